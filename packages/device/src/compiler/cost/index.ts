export type { CostBound } from '../../kernel/cost';
export {
  analyzeCost,
  analyzeCostByPrograms,
  type CostLaunch,
  clearCostCache,
  costAnalysisStats,
  costPlan,
} from './analyze';
