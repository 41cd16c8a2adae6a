export { build, type EdgeApp } from './app.js';
