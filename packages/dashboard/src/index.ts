/**
 * @tessera/dashboard on the server side: the wire types of the dashboard's API (api.ts) and the handler that serves
 * the built browser app (assets.ts). The browser app itself lives in ui/ and is built by Vite into dist/ui.
 */
export type * from './api';
export { dashboardBuilt, dashboardDir, resolveAssetPath, serveDashboardAsset } from './assets';
