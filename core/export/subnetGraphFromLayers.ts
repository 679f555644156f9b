/** Moved to core/nn/graph/fromLayers.ts (issue 10: the subnet graph lives on the nn floor). */
export { subnetGraphFromLayers } from '../nn/graph/fromLayers.js';
