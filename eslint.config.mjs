// Linter configuration (run by test/style.test.ts and `npm run lint`): the recommended JavaScript and
// TypeScript rules, without type information so that it stays fast.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', 'src/gpu/shaders.generated.ts', 'web/dist/**', 'docs/api/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      // `_`-prefixed names are deliberately unused (destructuring, callback signatures)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Errors re-thrown at a boundary (file, option, case) restate the cause's message with what the
      // user needs (the file, the field); the stack of the cause is not what they need to see.
      'preserve-caught-error': 'off',
    },
  },
  {
    files: ['scripts/**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly' } },
  },
);
