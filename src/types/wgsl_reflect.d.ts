// The ESM build of wgsl_reflect (which also carries the WgslExec CPU interpreter) has no types of
// its own; it exports the same API as the package's main entry.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
