/** Once, before any test file: the process tests need dist/ to be the build of this src/. */
import { ensureServerBuild } from './utils/builds.js';

export default function setup(): void {
  ensureServerBuild();
}
