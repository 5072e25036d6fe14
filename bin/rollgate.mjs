#!/usr/bin/env node
// The rollgate CLI runs its TypeScript sources through tsx's ESM loader: no build step, so it works
// right after `npm ci` and always matches the checked-out code. tsx is a runtime dependency for it.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
