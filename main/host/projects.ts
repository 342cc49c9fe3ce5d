/**
 * Project files for the host: opening (validation and migration by the engine's project module,
 * the model checked against its fingerprint and loaded, positions labelled with its tokenizer),
 * saving (atomic), autosave and crash recovery, recent files and the bundled examples. The UI holds
 * a project as a ProjectDoc (its results in the contract's form); this module converts both ways.
 *
 * Paths come from the UI (a native dialog's answer in the desktop app, a typed path or a listed
 * file in the browser host): only `.patchbench` files are read or written, and an existing file is
 * overwritten only when it is a project file.
 */
import { circuitFromWire, circuitToWire } from './circuits.ts';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { OPENED_VIEW_MAX_CHARS, projectDoc, savedBack, type ModelInfo, type OpenedProject, type PatchingResult, type ProjectDoc, type ProjectFileEntry, type Recoverable, type Res } from '../../shared/contract.ts';
import { s, SchemaError } from '../../shared/schema.ts';
import { settingsDir } from '../engine/discovery.ts';
import { checkNotReadOnly, removeStaleTemps } from '../engine/files.ts';
import { recoveryDir } from '../engine/project/recovery.ts';
import {
  autosavePath,
  autosaveProject,
  checkModel,
  describeModel,
  discardRecovery,
  emptyProject,
  listRecoverable,
  readProjectInfo,
  MAGIC,
  PROJECT_EXTENSION,
  projectBytes,
  projectFromResult,
  resourcesDir,
  resultFromProject,
  SCHEMA_VERSION,
  writeAtomic,
  type ModelRef,
  type Project,
} from '../engine/project/index.ts';
import { HostError } from './errors.ts';
import { engineResultFromWire, wireResultFrom } from './result-wire.ts';
import type { EngineClient } from './engine-client.ts';

interface AppFileState {
  recent: string[];
  last: string | null;
  everOpened: boolean;
}

const MAX_RECENT = 10;

export const examplesDir = () => process.env.PATCHBENCH_EXAMPLES ?? join(resourcesDir(), 'examples');
export const projectsDir = () => process.env.PATCHBENCH_PROJECTS ?? join(homedir(), 'Patchbench');
const stateFile = () => join(settingsDir(), 'projects.json');

const stem = (p: string) => basename(p).replace(/\.patchbench$/i, '');

/** A path the UI named for a project file, made absolute (relative paths are under the projects folder). */
export function projectPath(p: string): string {
  const trimmed = p.trim().replace(/^~(?=$|[\\/])/, homedir());
  const abs = isAbsolute(trimmed) ? resolve(trimmed) : resolve(projectsDir(), trimmed);
  if (!abs.toLowerCase().endsWith(PROJECT_EXTENSION)) {
    throw new HostError('bad-input', `${abs} is not a project file: project files end in ${PROJECT_EXTENSION}`);
  }
  return abs;
}

function isProjectFile(file: string): boolean {
  let fd: number | undefined;
  try {
    // Opening a FIFO would wait for a writer forever; only a regular file can be a project.
    if (!statSync(file).isFile()) return false;
    fd = openSync(file, 'r');
    const head = Buffer.alloc(MAGIC.length);
    readSync(fd, head, 0, head.length, 0);
    return head.equals(MAGIC);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Makes `dir` and whatever folders above it are missing; returns what removes the ones it made
 * again (those still empty), for a write into it that failed.
 */
function makeFolders(dir: string): () => void {
  const first = mkdirSync(dir, { recursive: true });
  return () => {
    if (first === undefined) return;
    for (let d = dir; ; d = dirname(d)) {
      try {
        rmdirSync(d);
      } catch {
        return; // not empty after all: someone else is using it
      }
      if (d === first) return;
    }
  };
}

const openedView = s.jsonObject({ maxBytes: OPENED_VIEW_MAX_CHARS });

/**
 * What opens can be saved back: `opened`, as the UI would save it, must pass project:save's limits
 * (the file format has none of its own on pair counts, text lengths, verify-top…). A view state too
 * large to keep is dropped with a warning (it is only the view); anything else refuses the file,
 * naming the field.
 */
function checkSaveable(opened: OpenedProject): void {
  try {
    openedView.parse(opened.view, 'view');
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    opened.warnings.push(`${opened.file}: ${e.message}, more than this app keeps; it opened with the default view (tab, selection, table order)`);
    opened.view = {};
  }
  try {
    projectDoc.parse(savedBack(opened), '');
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    const message = e.message.replace(/^modelDir\b/, 'model.path');
    throw new HostError('bad-project', `${opened.file}: ${message}. This app opens only projects it can save again (\`patchbench run\` reads this one)`);
  }
}

export class Projects {
  /** model references by folder, so autosaves do not hash the weights every time */
  private refs = new Map<string, { key: string; ref: Promise<ModelRef> }>();
  /**
   * The model references of opened projects, with the date of their results: results saved again
   * keep the reference of the model that computed them (its fingerprint and all), even when that
   * model has changed or is gone since.
   */
  private openedRefs = new Map<string, { ref: ModelRef; resultsDate: string | null }>();
  onRecentChange?: () => void;
  /** a file to open at start instead of the last project (the desktop app's command line or a double-click); given once */
  startupFile?: string;

  constructor(private readonly engine: EngineClient) {}

  // ---- remembered files ----

  private readState(): AppFileState {
    try {
      const x = JSON.parse(readFileSync(stateFile(), 'utf8')) as Partial<AppFileState>;
      return {
        recent: Array.isArray(x.recent) ? x.recent.filter((p): p is string => typeof p === 'string') : [],
        last: typeof x.last === 'string' ? x.last : null,
        everOpened: x.everOpened === true,
      };
    } catch {
      return { recent: [], last: null, everOpened: false };
    }
  }

  private writeState(st: AppFileState) {
    try {
      mkdirSync(settingsDir(), { recursive: true });
      writeAtomic(stateFile(), Buffer.from(JSON.stringify(st, null, 2) + '\n'));
    } catch {
      /* the recent list is a convenience */
    }
  }

  private remember(path: string | null) {
    const st = this.readState();
    st.everOpened = true;
    st.last = path;
    if (path) st.recent = [path, ...st.recent.filter((p) => p !== path)].slice(0, MAX_RECENT);
    this.writeState(st);
    this.onRecentChange?.();
  }

  recent(): string[] {
    return this.readState().recent;
  }

  /**
   * At start: removes the temporary files that saves killed mid-write left beside the recent
   * projects, in the recovery folder and in the settings folder. Returns what was removed.
   */
  removeStaleTemps(): string[] {
    const dirs = new Set([recoveryDir(), settingsDir(), ...this.recent().map((p) => dirname(p))]);
    return [...dirs].flatMap((d) => removeStaleTemps(d));
  }

  /** The UI closed its project (New, or quit with it open): nothing to reopen next time. */
  forgetLast() {
    const st = this.readState();
    st.last = null;
    st.everOpened = true;
    this.writeState(st);
  }

  files(): Res<'project:files'> {
    const st = this.readState();
    const entry = (p: string): ProjectFileEntry => ({ path: p, name: stem(p), exists: existsSync(p) });
    let examples: ProjectFileEntry[] = [];
    try {
      examples = readdirSync(examplesDir())
        .filter((f) => f.endsWith(PROJECT_EXTENSION))
        .sort()
        .map((f) => entry(join(examplesDir(), f)));
    } catch {
      /* no examples folder */
    }
    const startup = this.startupFile ?? null;
    this.startupFile = undefined;
    return { recent: st.recent.map(entry), examples, defaultDir: projectsDir(), last: st.last && existsSync(st.last) ? st.last : null, firstStart: !st.everOpened, startup };
  }

  private isExample(file: string) {
    return resolve(dirname(file)) === resolve(examplesDir());
  }

  // ---- open ----

  async open(pathIn: string): Promise<OpenedProject> {
    const file = projectPath(pathIn);
    const { project, schemaVersion: version, warnings: oddities } = await readProjectInfo(file);
    const warnings = oddities.map((w) => `${file}: ${w}`);
    const recovered = !!project.autosave;
    const example = !recovered && this.isExample(file);
    const path = recovered ? (project.autosave!.projectPath ?? null) : example ? null : file;
    const check = await checkModel(project);
    this.openedRefs.set(resolve(check.dir), { ref: project.model, resultsDate: project.provenance?.date ?? null });
    let loaded: ModelInfo | null = null;
    let modelMessage = check.message;
    let status = check.status;
    if (check.status !== 'missing') {
      try {
        const current = await this.engine.call('current', undefined).result;
        loaded = current && resolve(current.dir) === resolve(check.dir) ? current : await this.engine.call('load', { dir: check.dir }).result;
      } catch (e) {
        status = 'missing';
        modelMessage = `${check.message}, but it could not be loaded: ${(e as Error).message}`;
      }
    }
    const engineResult = resultFromProject(project);
    let result: PatchingResult | null = null;
    if (engineResult) {
      const ids = [engineResult.tokens.clean[0] ?? [], engineResult.tokens.corrupted[0] ?? []];
      let strings: string[][];
      if (loaded) strings = await this.engine.call('tokenStrings', { ids }).result;
      else strings = ids.map((row) => row.map((id) => `#${id}`));
      result = wireResultFrom(engineResult, { clean: strings[0], corrupted: strings[1] });
    }
    const opened: OpenedProject = {
      file,
      path,
      name: path ? stem(path) : recovered ? 'Recovered project' : stem(file),
      recovered,
      example,
      schemaVersion: version,
      migrated: version !== SCHEMA_VERSION,
      pairs: project.pairs,
      settings: { ...project.settings, kinds: [...project.settings.kinds] },
      result,
      provenance: project.provenance,
      view: project.view,
      model: { name: project.model.name, dir: check.dir, status, message: modelMessage },
      loaded,
      circuit: project.circuit ? circuitToWire(project.circuit) : null,
      circuitProvenance: project.circuit?.provenance ?? null,
      warnings,
    };
    checkSaveable(opened);
    if (!recovered) this.remember(example ? null : file);
    return opened;
  }

  // ---- save ----

  private modelRef(dir: string): Promise<ModelRef> {
    const abs = resolve(dir);
    let key: string;
    try {
      key = readdirSync(abs)
        .map((f) => {
          const st = statSync(join(abs, f));
          return `${f}:${st.size}:${st.mtimeMs}`;
        })
        .join('|');
    } catch {
      key = 'unreadable';
    }
    const hit = this.refs.get(abs);
    if (hit && hit.key === key) return hit.ref;
    const ref = describeModel(abs);
    this.refs.set(abs, { key, ref });
    ref.catch(() => this.refs.delete(abs));
    return ref;
  }

  async toProject(doc: ProjectDoc): Promise<Project> {
    let model: ModelRef;
    const opened = this.openedRefs.get(resolve(doc.modelDir));
    if (opened && doc.result && opened.resultsDate !== null && doc.provenance?.date === opened.resultsDate) {
      model = opened.ref; // the results of an opened project: the model that computed them
    } else {
      try {
        model = await this.modelRef(doc.modelDir);
      } catch (e) {
        throw new HostError('bad-model', `the project's model cannot be described for saving: ${(e as Error).message}`);
      }
    }
    const settings = { ...doc.settings, kinds: [...doc.settings.kinds] };
    const circuit = doc.circuit ? circuitFromWire(doc.circuit, doc.circuitProvenance) : undefined;
    const withCircuit = (p: Project): Project => (circuit ? { ...p, circuit } : p);
    if (!doc.result) return withCircuit(emptyProject({ pairs: doc.pairs, settings, model, view: doc.view }));
    const prov = doc.provenance;
    const p = projectFromResult(engineResultFromWire(doc.result), {
      pairs: doc.pairs,
      settings,
      model,
      view: doc.view,
      ...(prov ? { date: new Date(prov.date), ...(prov.appVersion ? { version: prov.appVersion } : {}) } : {}),
    });
    return withCircuit(p);
  }

  async save(pathIn: string, doc: ProjectDoc): Promise<Res<'project:save'>> {
    const file = projectPath(pathIn);
    if (this.isExample(file)) throw new HostError('bad-input', `${file} is a bundled example; save your copy somewhere else`);
    if (existsSync(file) && !isProjectFile(file)) {
      throw new HostError('bad-input', `${file} exists and is not a Patchbench project; refusing to overwrite it`);
    }
    // Everything that can be checked is checked before the first folder is made, and a write that
    // fails anyway takes the folders it made with it: a failed save leaves nothing behind.
    const bytes = projectBytes(file, await this.toProject(doc));
    checkNotReadOnly(file);
    const removeMadeFolders = makeFolders(dirname(file));
    try {
      writeAtomic(file, bytes);
    } catch (e) {
      removeMadeFolders();
      throw e;
    }
    // Saved: the recovery copy of this project (or of the untitled one it was) is not needed.
    for (const p of [file, null]) rmSync(autosavePath(p), { force: true });
    this.remember(file);
    return { path: file, name: stem(file) };
  }

  // ---- autosave and recovery ----

  async autosave(projectPathIn: string | null, doc: ProjectDoc | null): Promise<string | null> {
    const pp = projectPathIn === null ? null : projectPath(projectPathIn);
    if (!doc) {
      rmSync(autosavePath(pp), { force: true });
      return null;
    }
    return autosaveProject(await this.toProject(doc), pp);
  }

  recovery(): Recoverable[] {
    return listRecoverable();
  }

  discardRecovery(path: string) {
    discardRecovery(path);
  }
}
