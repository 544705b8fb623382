/**
 * Dependency rules of src/ (run by test/dependencies.test.ts): layers import only downwards,
 *   util, io  →  gpu  →  autodiff  →  ops  →  models  →  inference  →  analysis, sparse  →  plot  →  sweep  →  cli, web
 * (analysis and sparse may use each other in one direction only: no cycles anywhere).
 */
const LAYERS = [['util', 'io'], ['gpu'], ['autodiff'], ['ops'], ['models'], ['inference'], ['analysis', 'sparse'], ['plot'], ['sweep'], ['cli', 'web']];

/** For each layer: a rule forbidding imports of any higher layer. */
const layerRules = LAYERS.flatMap((group, i) => {
  const higher = LAYERS.slice(i + 1).flat();
  if (higher.length === 0) return [];
  return group.map((dir) => ({
    name: `layer-${dir}`,
    comment: `src/${dir} sits below ${higher.join(', ')}: it must not import them`,
    severity: 'error',
    from: { path: `^src/${dir}/` },
    to: { path: `^src/(${higher.join('|')})/` },
  }));
});

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'modules must not import each other in a cycle', severity: 'error', from: { path: '^src/' }, to: { circular: true } },
    {
      name: 'web-uses-public-api',
      comment: 'the web app uses the library through src/index.ts only',
      severity: 'error',
      from: { path: '^src/web/' },
      to: { path: '^src/(gpu|autodiff|ops|models|inference|analysis|sparse|io|sweep)/' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
