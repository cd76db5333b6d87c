// ESLint: the type-aware recommended rules everywhere, and the fence that keeps core pure.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** What packages/core may not import: it runs in browsers and owns no I/O. */
const coreForbiddenImports = [
  {
    group: ["node:*"],
    message:
      "core is browser-safe: no Node.js built-ins; define a port and implement it in server.",
  },
  {
    group: ["pg", "pg-*", "@electric-sql/*"],
    message: "core owns no database access: define a port (a Store) instead.",
  },
  {
    group: ["fastify", "@fastify/*", "express", "undici", "nodemailer"],
    message: "core knows no HTTP or mail: that is server's job.",
  },
  {
    group: [
      "@herald/server",
      "@herald/server/*",
      "@herald/ui",
      "@herald/ui/*",
      "@herald/tracker",
      "@herald/tracker/*",
    ],
    message: "core imports no other Herald package.",
  },
];

/** Node.js built-ins reachable without the node: prefix. */
const nodeBuiltins = [
  "fs",
  "fs/promises",
  "path",
  "os",
  "http",
  "https",
  "net",
  "crypto",
  "child_process",
  "stream",
  "events",
  "url",
  "util",
  "worker_threads",
  "async_hooks",
  "zlib",
];

export default tseslint.config(
  { ignores: ["node_modules/", "**/dist/", ".herald/", "bench/results/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: [
            "*.js",
            "scripts/*.js",
            "packages/*/bin/*.js",
            "packages/*/build/*.js",
          ],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            {
              from: "package",
              package: "node:test",
              name: ["describe", "it", "test", "suite"],
            },
          ],
        },
      ],
      "@typescript-eslint/no-unused-vars": [
        "error",
        {
          argsIgnorePattern: "^_",
          varsIgnorePattern: "^_",
          destructuredArrayIgnorePattern: "^_",
        },
      ],
      "@typescript-eslint/no-explicit-any": "error",
      // Port implementations are async by contract even when one needs no await.
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "error",
    },
  },
  {
    files: ["packages/core/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: coreForbiddenImports,
          paths: nodeBuiltins.map((name) => ({
            name,
            message: "core is browser-safe: no Node.js built-ins.",
          })),
        },
      ],
      "no-restricted-globals": [
        "error",
        {
          name: "process",
          message: "core reads no environment: configuration is passed in.",
        },
        { name: "Buffer", message: "core is browser-safe: use Uint8Array." },
        { name: "require", message: "core is ESM and browser-safe." },
        { name: "__dirname", message: "core has no file system." },
      ],
    },
  },
  {
    // Tests read JSON answers ad hoc; their assertions are the type check.
    files: ["**/*.test.ts", "packages/*/src/testing/**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
    },
  },
  {
    files: ["**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: { process: "readonly", console: "readonly", URL: "readonly" },
    },
  },
  {
    // A route validates, calls one use-case of its feature and returns: SQL and
    // transactions live in the feature's service, never in a route file.
    files: ["packages/server/src/**/*-routes.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/db/*", "**/*.sql.ts"],
              message:
                "routes call their feature's service; SQL and the database stay behind it.",
            },
          ],
        },
      ],
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.property.name=/^(transaction|tx)$/]",
          message:
            "routes open no transactions: the feature's service does, in one use-case.",
        },
      ],
    },
  },
  {
    files: [
      "packages/server/src/cli/**/*.ts",
      "bench/**/*.ts",
      "scripts/**/*.{js,ts}",
      "packages/*/bin/*.js",
    ],
    rules: { "no-console": "off" },
  },
);
