import { runConformanceSuite } from '@tessera/device/testing';
import { createNvidiaSimBackend } from '../src/index';

runConformanceSuite({ backend: () => createNvidiaSimBackend(), devices: ['h100', 'a100'] });
