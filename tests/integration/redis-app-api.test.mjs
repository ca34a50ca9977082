// The cluster-wide API of siod applications over the classic Redis adapter
// (redis-app-api-lib.mjs has the tests).
import { appApiTests } from './redis-app-api-lib.mjs';

appApiTests('classic');
