/**
 * @module providers/drover — deployment tasks: deploy, wait, test, alarm watch, approval.
 */
export { droverDeployment } from './deployment.ts';
export { droverWait } from './wait.ts';
export { droverTest } from './test-command.ts';
export { droverAlarmWatch } from './alarm-watch.ts';
export { droverApproval } from './approval.ts';
export { parseDuration, tryParseDuration, durationSchema, sleep } from './duration.ts';
