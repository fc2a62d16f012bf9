/**
 * @module providers/local — files and directories on the host running the task.
 */
export { localFile } from './file.ts';
export { localDirectory } from './directory.ts';
