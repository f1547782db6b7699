import { defineConfig } from "vite";

// The staff console: web/console/index.html -> web/dist/app, served by Stamm at /app/.
export default defineConfig({
  root: "console",
  base: "/app/",
  publicDir: false,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { outDir: "../dist/app", emptyOutDir: true, target: "es2020", sourcemap: false },
});
