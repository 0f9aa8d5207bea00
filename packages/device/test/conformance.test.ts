import { createTestBackend, runConformanceSuite } from '../src/testing/index';

runConformanceSuite({ backend: () => createTestBackend() });
