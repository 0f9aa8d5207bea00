#!/usr/bin/env node
// The registration entry point first: every command finds its backends in the registry.
import './register-backends';
import { run } from './program';

process.exitCode = await run(process.argv.slice(2));
