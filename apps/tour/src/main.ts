import { createTestBackend } from '@tessera/device/reference-backend';
import { tour } from './tour';

await tour([createTestBackend()]);
