export type { CostBound } from '../../kernel/cost';
export { analyzeCost, type CostLaunch, clearCostCache, costAnalysisStats, costPlan } from './analyze';
