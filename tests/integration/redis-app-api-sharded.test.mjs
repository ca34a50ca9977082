// The cluster-wide API of siod applications over the sharded Redis adapter
// (siod --redis-mode=sharded, the Node.js server's createShardedAdapter;
// redis-app-api-lib.mjs has the tests).
import { appApiTests } from './redis-app-api-lib.mjs';

appApiTests('sharded');
