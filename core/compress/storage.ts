/**
 * Size of a (compressed) subnet graph: parameters and bits as stored. The function lives on the graph's
 * floor (core/nn/graph/storage.ts), where search prices the blocks' `bits` choice with it too.
 */
export { graphSize, type GraphSize } from '../nn/graph/storage.js';
