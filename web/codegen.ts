// Typed operations from the API's schema: every graphql(`...`) in src/ is checked against
// ../schema.graphql, so a schema change that breaks the front end fails `npm run build`.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: ["src/**/*.ts", "src/**/*.tsx", "!src/gql/**/*"],
  errorsOnly: true,
  generates: {
    "./src/gql/": {
      preset: "client",
      // Operations as plain strings: no GraphQL parser in the bundles.
      config: { documentMode: "string", enumsAsTypes: true, useTypeImports: true, scalars: { DateTime: "string", JSON: "unknown" } },
      presetConfig: { fragmentMasking: false },
    },
  },
};

export default config;
