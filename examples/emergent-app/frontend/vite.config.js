import { defineConfig } from 'vite'

// Emergent front ends read `process.env.REACT_APP_BACKEND_URL` (Create React App style); this
// one builds with Vite, so the variable is put in at build time the same way.
export default defineConfig({
  define: {
    'process.env.REACT_APP_BACKEND_URL': JSON.stringify(process.env.REACT_APP_BACKEND_URL ?? ''),
  },
  esbuild: { jsx: 'automatic' },
  server: { port: 3000 },
})
