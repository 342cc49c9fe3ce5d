/**
 * Project files (`*.patchbench`): one file with everything needed to reopen, rerun and share an
 * analysis. format.ts describes the layout; this module is the API the app and the CLI use.
 */
export * from './types.ts';
export { MAGIC, decodeProject, encodeProject, resolveStoredPath, storedModelPath, type Decoded, type ModelPathMode } from './format.ts';
export { appVersion, loadProject, loadProjectInfo, projectBytes, readProjectInfo, resourcesDir, saveProject, writeAtomic, type SaveOptions } from './io.ts';
export { checkModel, describeModel, fingerprintModel, modelFiles, resolveModelDir, type ModelCheck, type ModelStatus } from './model-ref.ts';
export { emptyProject, projectFromResult, requestFromSettings, resultFromProject, settingsFromRequest, type ProjectInputs } from './convert.ts';
export { autosavePath, autosaveProject, discardRecovery, listRecoverable, recoveryDir, type Recoverable } from './recovery.ts';
export { MIGRATIONS } from './migrate.ts';
