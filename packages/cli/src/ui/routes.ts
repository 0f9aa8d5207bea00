/**
 * The dashboard API's routes as plain handlers, path → method → handler: `tessera ui` serves them (server.ts) and
 * apps/llm-serve mounts the same ones. GET handlers take the query string, POST handlers the parsed JSON body; both
 * throw UiApiError for bad input (anything else is the server's fault).
 */

import { TopologyGraph } from '@tessera/cluster';
import type { TopologySummary, TopologyView } from '@tessera/dashboard';
import { collectiveView } from './collective';
import { UiApiError } from './errors';
import { project, projectOptions } from './project';
import { BUILTIN_NAMES, builtinSpec, topologySummary, topologyView } from './topology';

export interface UiRoute {
  GET?: (query: URLSearchParams) => Promise<unknown>;
  POST?: (body: unknown) => Promise<unknown>;
}

async function topologies(): Promise<TopologySummary[]> {
  return BUILTIN_NAMES.map((n) => topologySummary(builtinSpec(n, 'name')));
}

async function topology(query: URLSearchParams): Promise<TopologyView> {
  const names = query.getAll('name');
  if (names.length !== 1)
    throw new UiApiError(
      400,
      `Give one topology as ?name=…, one of: ${BUILTIN_NAMES.join(', ')}${names.length ? ` (got ${names.length})` : ''}.`,
      'name',
    );
  const spec = builtinSpec(names[0], 'name');
  return topologyView(new TopologyGraph(spec), spec.name);
}

export const UI_API_ROUTES: Record<string, UiRoute> = {
  '/api/topologies': { GET: topologies },
  '/api/topology': { GET: topology },
  '/api/cluster/collective': { POST: collectiveView },
  '/api/project/options': { GET: projectOptions },
  '/api/project': { POST: project },
};
