// Stylesheets imported for esbuild to bundle (dist/web/assets/main.css); they export nothing.
declare module '*.css';
