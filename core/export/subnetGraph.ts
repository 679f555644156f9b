/** Moved to core/nn/graph/evaluate.ts (issue 10: the subnet graph and its evaluation live on the nn floor). */
export * from '../nn/graph/evaluate.js';
