import { defineConfig } from "vite";

// The chat widget: one classic script, web/dist/widget.js, served by Stamm at /widget.js and
// embeddable on any page; widget-public/widget-demo.html is copied next to it.
export default defineConfig({
  publicDir: "widget-public",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  build: {
    outDir: "dist",
    emptyOutDir: false,
    target: "es2020",
    lib: { entry: "src/widget/main.tsx", formats: ["iife"], name: "StammChatWidget", fileName: () => "widget.js" },
  },
});
