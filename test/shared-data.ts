// The shared data folder sits next to the repository (`../shared/data`). Tests find it from this
// file, not from the working directory, so they run the same from any directory.
import { fileURLToPath } from 'node:url';

/** Path of a file in the shared data folder. */
export const sharedData = (name: string): string => fileURLToPath(new URL(`../../shared/data/${name}`, import.meta.url));
