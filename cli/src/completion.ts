// Shell completion scripts for bash and zsh, generated from the command tree itself, so every
// command and flag (including ones added later) completes without a hand-kept list.
//
// The script holds the tree as `case` tables (same syntax in bash and zsh): subcommands, flags,
// flags that take a value, and what each positional argument is. Argument kinds come from the
// argument's name in its command definition, by convention:
//
//   <kind>            the kinds that command takes (../kinds.ts)  (static)
//   <name>, [names…]  after a <kind>: names of that kind        (asks the controller)
//   <service…>        service names                            (asks the controller)
//   <name=replicas…>  service names followed by "="            (asks the controller)
//   <node…>           node ids                                 (asks the controller)
//   <context>         context names                            (reads the config file)
//   <shell>           bash | zsh                               (static)
//
// Flags: -f/--filename complete files, --context contexts, -n/--namespace namespaces, and a
// flag whose help lists its values as "a | b | c" completes those. Names come from the hidden
// command `berth __complete WHAT`, which prints one per line and nothing on any error.
import type { Command, Option } from 'commander';
import { isKindVerb, kindsOf, kindWords, KINDS } from './kinds.js';

export type ArgKind = 'kind' | 'names-by-kind' | 'services' | 'services=' | 'nodes' | 'contexts' | 'shells' | 'none';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

/** The kinds a `<kind>` argument of this command offers (plural forms, as `berth get` prints them). */
export function kindWordsOf(path: string): string[] {
  return (isKindVerb(path) ? kindsOf(path) : [...KINDS]).map((k) => k.plural);
}

export function argKind(name: string, previous: ArgKind[]): ArgKind {
  const n = name.toLowerCase();
  if (n === 'kind') return 'kind';
  if (n === 'shell') return 'shells';
  if (n.includes('=')) return 'services=';
  if (n.startsWith('context')) return 'contexts';
  if (n.startsWith('service')) return 'services';
  if (n.startsWith('node')) return 'nodes';
  if ((n === 'name' || n === 'names') && previous.includes('kind')) return 'names-by-kind';
  return 'none';
}

interface PathSpec {
  path: string;
  subs: string[];
  flags: string[];
  valueFlags: string[];
  args: ArgKind[];
  variadic: boolean;
  /** flag → static values, from help text such as "wide | json | yaml". */
  flagValues: Map<string, string[]>;
  /** What a `kind` argument offers here. */
  kinds: string[];
}

function optionNames(o: Option): string[] {
  return [o.short, o.long].filter((x): x is string => !!x);
}

function staticValues(o: Option): string[] | undefined {
  const m = /^([a-z][a-z0-9-]*(?: \| [a-z][a-z0-9-]*)+)\b/.exec(o.description);
  return m ? m[1]!.split(' | ') : undefined;
}

/** Walks the command tree (visible commands and options only). */
export function collectSpecs(program: Command): PathSpec[] {
  const help = program.createHelp();
  const globals = help.visibleOptions(program);
  const out: PathSpec[] = [];
  const visit = (cmd: Command, path: string): void => {
    const subs = help.visibleCommands(cmd).filter((c) => c.name() !== 'help');
    const opts = cmd === program ? globals : [...help.visibleOptions(cmd), ...globals];
    const args: ArgKind[] = [];
    for (const a of cmd.registeredArguments) args.push(argKind(a.name(), args));
    const flagValues = new Map<string, string[]>();
    for (const o of opts) {
      const v = staticValues(o);
      if (v && (o.required || o.optional)) for (const n of optionNames(o)) flagValues.set(n, v);
    }
    out.push({
      path,
      subs: subs.flatMap((c) => [c.name(), ...c.aliases()]),
      flags: [...new Set(opts.flatMap(optionNames))],
      valueFlags: [...new Set(opts.filter((o) => o.required || o.optional).flatMap(optionNames))],
      args,
      variadic: cmd.registeredArguments.at(-1)?.variadic ?? false,
      flagValues,
      kinds: args.includes('kind') ? kindWordsOf(path) : [],
    });
    for (const c of subs) visit(c, path ? `${path} ${c.name()}` : c.name());
  };
  visit(program, '');
  return out;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The shell-neutral part: case tables and the helper that asks berth for names. */
function tables(specs: PathSpec[]): string {
  const spec = specs
    .map((s) => `    ${q(s.path)}) subs=${q(s.subs.join(' '))}; flags=${q(s.flags.join(' '))}; valflags=${q(s.valueFlags.join(' '))};;`)
    .join('\n');
  const args = specs
    .flatMap((s) => {
      const lines = s.args.map(
        (k, i) => `    ${q(`${s.path}:${i}`)}) __berth_kind=${k};${k === 'kind' ? ` __berth_kinds=${q(s.kinds.join(' '))};` : ''};`,
      );
      if (s.variadic && s.args.length > 0) lines.push(`    ${q(`${s.path}:`)}*) __berth_kind=${s.args.at(-1)!};;`);
      return lines;
    })
    .join('\n');
  const values = specs
    .flatMap((s) => [...s.flagValues].map(([flag, v]) => `    ${q(`${s.path}|${flag}`)}) __berth_vals=${q(v.join(' '))};;`))
    .join('\n');
  const namesByKind = KINDS.map((k) => `        ${kindWords(k).join('|')}) names=$(__berth_names ${k.plural});;`).join('\n');
  return `__berth_spec() {
  subs=''; flags=''; valflags=''
  case "$1" in
${spec}
  esac
}

__berth_arg() {
  __berth_kind=none; __berth_kinds=''
  case "$1:$2" in
${args}
  esac
}

# Values of a flag: a word list, or one of the markers files / contexts / namespaces.
__berth_flag() {
  __berth_vals=''
  case "$2" in
    -f|--filename) __berth_vals=__files; return;;
    --context) __berth_vals=__contexts; return;;
    -n|--namespace) __berth_vals=__namespaces; return;;
  esac
  case "$1|$2" in
${values}
  esac
}

# Names from the controller (or the config file); silent and quick on any failure.
__berth_names() {
  if [[ -n $__berth_ns ]]; then
    command berth __complete "$1" -n "$__berth_ns" 2>/dev/null
  else
    command berth __complete "$1" 2>/dev/null
  fi
}

# Walks the words before the cursor: sets __berth_path (command path), __berth_pos (index of the
# positional argument under the cursor), __berth_first (first positional), __berth_ns (-n value)
# and __berth_prevflag (a flag waiting for its value, or empty).
__berth_walk() {
  local w skip=0
  __berth_path=''; __berth_pos=0; __berth_first=''; __berth_ns=''; __berth_prevflag=''
  for w in "$@"; do
    if [[ $skip == 1 ]]; then
      skip=0
      [[ $__berth_prevflag == -n || $__berth_prevflag == --namespace ]] && __berth_ns=$w
      __berth_prevflag=''
      continue
    fi
    __berth_spec "$__berth_path"
    if [[ $w == -* ]]; then
      if [[ $w != *=* && " $valflags " == *" $w "* ]]; then skip=1; __berth_prevflag=$w; fi
      continue
    fi
    if [[ $__berth_pos == 0 && " $subs " == *" $w "* ]]; then
      __berth_path=\${__berth_path:+$__berth_path }$w
    elif [[ $w != = ]]; then
      [[ $__berth_pos == 0 ]] && __berth_first=$w
      __berth_pos=$((__berth_pos + 1))
    fi
  done
  __berth_spec "$__berth_path"
}

# Candidate words for the positional argument under the cursor (markers as in __berth_flag).
__berth_candidates() {
  local names=''
  __berth_arg "$__berth_path" "$__berth_pos"
  case $__berth_kind in
    kind) names=$__berth_kinds;;
    shells) names='${SHELLS.join(' ')}';;
    services) names=$(__berth_names services);;
    services=) names=__services_eq;;
    nodes) names=$(__berth_names nodes);;
    contexts) names=$(__berth_names contexts);;
    names-by-kind)
      case $__berth_first in
${namesByKind}
      esac;;
  esac
  if [[ $__berth_pos == 0 ]]; then
    __berth_words="$subs $names"
  else
    __berth_words=$names
  fi
}
`;
}

export function bashScript(program: Command): string {
  return `# berth completion for bash. Load it with:  source <(berth completion bash)
# or install it:  berth completion bash > /etc/bash_completion.d/berth
${tables(collectSpecs(program))}
_berth() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  local subs flags valflags __berth_kind __berth_kinds __berth_vals __berth_words
  local __berth_path __berth_pos __berth_first __berth_ns __berth_prevflag
  COMPREPLY=()
  __berth_walk "\${COMP_WORDS[@]:1:COMP_CWORD-1}"
  if [[ -n $__berth_prevflag ]]; then
    __berth_flag "$__berth_path" "$__berth_prevflag"
    case $__berth_vals in
      __files) compopt -o filenames 2>/dev/null; COMPREPLY=( $(compgen -f -- "$cur") );;
      __contexts) COMPREPLY=( $(compgen -W "$(__berth_names contexts)" -- "$cur") );;
      __namespaces) COMPREPLY=( $(compgen -W "$(__berth_names namespaces)" -- "$cur") );;
      *) COMPREPLY=( $(compgen -W "$__berth_vals" -- "$cur") );;
    esac
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
    return 0
  fi
  __berth_candidates
  if [[ $__berth_words == *__services_eq* ]]; then
    compopt -o nospace 2>/dev/null
    COMPREPLY=( $(compgen -S = -W "$(__berth_names services)" -- "$cur") )
    return 0
  fi
  COMPREPLY=( $(compgen -W "$__berth_words" -- "$cur") )
}
complete -F _berth berth
`;
}

export function zshScript(program: Command): string {
  return `#compdef berth
# berth completion for zsh. Load it with:  source <(berth completion zsh)   (after compinit)
# or install it as _berth in a directory of your $fpath.
${tables(collectSpecs(program))}
_berth() {
  local cur=\${words[CURRENT]}
  local subs flags valflags __berth_kind __berth_kinds __berth_vals __berth_words
  local __berth_path __berth_pos __berth_first __berth_ns __berth_prevflag
  __berth_walk "\${(@)words[2,CURRENT-1]}"
  if [[ -n $__berth_prevflag ]]; then
    __berth_flag "$__berth_path" "$__berth_prevflag"
    case $__berth_vals in
      __files) _files;;
      __contexts) compadd -- \${(f)"$(__berth_names contexts)"};;
      __namespaces) compadd -- \${(f)"$(__berth_names namespaces)"};;
      *) compadd -- \${=__berth_vals};;
    esac
    return
  fi
  if [[ $cur == -* ]]; then
    compadd -- \${=flags}
    return
  fi
  __berth_candidates
  if [[ $__berth_words == *__services_eq* ]]; then
    compadd -S = -- \${(f)"$(__berth_names services)"}
    return
  fi
  compadd -- \${=__berth_words}
}
if (( $+functions[compdef] )); then
  compdef _berth berth
fi
`;
}

export function completionScript(shell: Shell, program: Command): string {
  return shell === 'bash' ? bashScript(program) : zshScript(program);
}
