import { runConformanceSuite } from '@tessera/device/testing';
import { createAscendSimBackend } from '../src/index';

runConformanceSuite({ backend: () => createAscendSimBackend(), devices: ['910b2', '910c'] });
