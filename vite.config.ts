import { defineConfig } from "vitest/config";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The frontend lives in ui/; Tauri embeds ui/dist into the app binary.
export default defineConfig({
  root: "ui",
  plugins: [svelte()],
  clearScreen: false,
  server: { port: 5173, strictPort: true, host: "127.0.0.1" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // WebKitGTK 2.40+, WebView2 and Safari 15+ all run ES2021.
    target: "es2021",
    sourcemap: false,
  },
  test: {
    root: ".",
    include: ["ui/src/**/*.test.ts"],
  },
});
