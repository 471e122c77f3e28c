// Owns reading a rule file and its list files from disk, and reloading them when they change.
// Must never replace a good rule set with a bad one: a broken edit is reported and the last good set stays.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuleFileError, parseRuleSet, type RuleSet } from './rules.js';

/** The rule set koza ships (docs/risk-rules.md explains each rule). */
export const DEFAULT_RULE_FILE = fileURLToPath(new URL('./default-rules.yaml', import.meta.url));

/** Reads and validates a rule file; list files resolve relative to it. Throws RuleFileError. */
export function loadRuleFile(path: string): RuleSet {
  const full = resolve(path);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (err) {
    throw new RuleFileError(full, `cannot read the rule file: ${(err as Error).message}`);
  }
  return parseRuleSet(text, { source: full, readList: (file) => readFileSync(resolve(dirname(full), file), 'utf8') });
}

/**
 * Validates rule-file text that is not on disk (a candidate sent for a dry run). List files resolve relative to
 * `listDir` and must stay inside it: the text comes from a client, who must not make koza read /etc/passwd.
 * Throws RuleFileError naming `source`.
 */
export function parseRuleText(text: string, options: { source?: string; listDir?: string } = {}): RuleSet {
  const listDir = resolve(options.listDir ?? dirname(DEFAULT_RULE_FILE));
  return parseRuleSet(text, {
    source: options.source ?? '<candidate>',
    readList: (file) => {
      const full = resolve(listDir, file);
      const inside = relative(listDir, full);
      if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
        throw new Error(`list files must be inside ${basename(listDir)}/ (relative paths such as lists/name.txt)`);
      }
      return readFileSync(full, 'utf8');
    },
  });
}

/** The files a rule set was built from: the rule file and every list file it names. */
function filesOf(path: string, ruleSet: RuleSet): string[] {
  const full = resolve(path);
  return [full, ...ruleSet.listFiles.map((file) => resolve(dirname(full), file))];
}

export interface RuleFileWatcher {
  /** The last rule set that loaded cleanly. */
  current(): RuleSet;
  close(): void;
}

export interface WatchOptions {
  /** Editors write a file in several steps; reload once they have been quiet this long. */
  debounceMs?: number;
  /** Keep the process alive while watching (default false: the watcher never holds a server's shutdown). */
  persistent?: boolean;
}

/**
 * Loads the rule file now (a bad file at start throws, so a misconfigured koza does not start) and reloads it
 * whenever it or one of its list files changes. Watches the directories, not the files: editors that save by
 * renaming a new file into place would leave a file watch on the old, deleted inode.
 */
export function watchRuleFile(
  path: string,
  onChange: (ruleSet: RuleSet) => void,
  onError: (error: RuleFileError) => void,
  options: WatchOptions = {},
): RuleFileWatcher {
  const debounceMs = options.debounceMs ?? 200;
  let good = loadRuleFile(path);
  let timer: NodeJS.Timeout | null = null;
  let watchers: FSWatcher[] = [];
  let closed = false;

  const rewatch = (): void => {
    for (const w of watchers) w.close();
    const byDir = new Map<string, Set<string>>();
    for (const file of filesOf(path, good)) {
      const dir = dirname(file);
      if (!byDir.has(dir)) byDir.set(dir, new Set());
      byDir.get(dir)!.add(basename(file));
    }
    watchers = [];
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: options.persistent ?? false }, (_event, filename) => {
          if (filename === null || names.has(filename.toString())) schedule();
        });
        w.on('error', (err) => onError(new RuleFileError(resolve(path), `watching ${dir} failed: ${err.message}`)));
        watchers.push(w);
      } catch (err) {
        onError(new RuleFileError(resolve(path), `cannot watch ${dir}: ${(err as Error).message}`));
      }
    }
  };

  const reload = (): void => {
    timer = null;
    if (closed) return;
    let next: RuleSet;
    try {
      next = loadRuleFile(path);
    } catch (err) {
      onError(err instanceof RuleFileError ? err : new RuleFileError(resolve(path), (err as Error).message));
      return;
    }
    good = next;
    rewatch(); // the new file may name other list files
    onChange(next);
  };

  function schedule(): void {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, debounceMs);
  }

  rewatch();
  return {
    current: () => good,
    close: () => {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
      watchers = [];
    },
  };
}
