/**
 * The dashboard's API as plain handlers (`tessera ui` serves them over node:http; apps/llm-serve mounts the same
 * ones): built-in topologies, collectives on a timing-only cluster with faults, and the projection search.
 */
export { COLLECTIVE_NAMES, MAX_COLLECTIVE_BYTES } from './collective';
export { UiApiError } from './errors';
export { MAX_BATCH, MAX_PENDING_SEARCHES, MAX_SYSTEMS, PROJECT_DEFAULTS } from './project';
export { UI_API_ROUTES, type UiRoute } from './routes';
export {
  DEFAULT_UI_HOST,
  DEFAULT_UI_PORT,
  MAX_BODY_BYTES,
  startUiServer,
  type UiServer,
  type UiServerOptions,
} from './server';
export { linkUtilisation, type TopologyViewExtras, topologySummary, topologyView, vendorOf } from './topology';
