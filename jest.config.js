/** Jest runs TypeScript through ts-jest without type-checking: `tsc --noEmit` in `npm test` does that once. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json', diagnostics: false }] },
  moduleNameMapper: {
    // The runtime package (runtime/package.json) by its name, and by the root package's older export path.
    '^(@phasegate|phasegate)/runtime$': '<rootDir>/runtime/index.ts',
    '^(@phasegate|phasegate)/runtime/(llm-budget|openfeature)$': '<rootDir>/runtime/$2.ts',
  },
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
  // A guard against a hung test, not a speed limit: a test that passes quietly must pass on a busy machine too.
  testTimeout: 300_000,
};
