export { type CollectiveOp, createCluster } from '../src/index';

export interface TesseraErrorLike {
  code: string;
  message: string;
}
