import type { CommandSpec, OptionSpec } from './commands';

/**
 * Shell completion for `phasegate`: `phasegate completion bash` / `zsh` print a script that completes command
 * words, each command's options, and feature ids (the `rollouts/*.json` of the current directory) where a command
 * takes a feature. Generated from the command table, so it never lists a command or option that does not exist.
 */

/** The shells {@link completionScript} writes for. */
export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;

/** One of {@link COMPLETION_SHELLS}. */
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

interface Table {
  readonly top: string[];
  readonly plan: string[];
  /** `status`, `plan show` -> its options, `--name` each. */
  readonly options: [string, string[]][];
  /** Commands whose first argument is a feature id or a plan file. */
  readonly featureArgs: string[];
  readonly fileArgs: string[];
}

function tableOf(commands: readonly CommandSpec[], globals: Readonly<Record<string, Readonly<Record<string, OptionSpec>>>>, extraTop: readonly string[]): Table {
  const top = [...new Set([...commands.map((c) => c.path[0]!), ...extraTop])];
  const plan = commands.filter((c) => c.path[0] === 'plan' && c.path.length > 1).map((c) => c.path[1]!);
  const options = commands.map((c) => [c.path.join(' '), [...new Set([...Object.keys(globals[c.scope] ?? {}), ...Object.keys(c.options)])].map((o) => `--${o}`)] as [string, string[]]);
  const featureArgs = commands.filter((c) => c.args[0]?.name === 'feature').map((c) => c.path.join(' '));
  const fileArgs = commands.filter((c) => c.args[0]?.name === 'file').map((c) => c.path.join(' '));
  return { top, plan, options, featureArgs, fileArgs };
}

const FEATURES_SH = 'for f in rollouts/*.json; do [ -e "$f" ] && { f=${f#rollouts/}; printf "%s\\n" "${f%.json}"; }; done';

function bash(t: Table): string {
  const cases = t.options.map(([path, opts]) => `    "${path}") opts="${opts.join(' ')}" ;;`).join('\n');
  return `# phasegate completion for bash. Load it with:  source <(phasegate completion bash)
_phasegate() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local cmd="\${COMP_WORDS[1]}"
  local args=0 i
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${t.top.join(' ')} --help --version" -- "$cur"))
    return
  fi
  if [ "$cmd" = plan ]; then
    if [ "$COMP_CWORD" -eq 2 ]; then
      COMPREPLY=($(compgen -W "${t.plan.join(' ')}" -- "$cur"))
      return
    fi
    cmd="plan \${COMP_WORDS[2]}"
  fi
  if [ "$cmd" = completion ]; then
    COMPREPLY=($(compgen -W "bash zsh" -- "$cur"))
    return
  fi
  local opts=""
  case "$cmd" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  case "$cmd" in
    ${t.fileArgs.map((p) => `"${p}"`).join('|') || '__none__'}) COMPREPLY=($(compgen -f -- "$cur") $(compgen -W "$(${FEATURES_SH})" -- "$cur")) ;;
    ${t.featureArgs.map((p) => `"${p}"`).join('|') || '__none__'}) COMPREPLY=($(compgen -W "$(${FEATURES_SH})" -- "$cur")) ;;
  esac
}
complete -F _phasegate phasegate
`;
}

function zsh(t: Table): string {
  const cases = t.options.map(([path, opts]) => `    "${path}") opts=(${opts.join(' ')}) ;;`).join('\n');
  return `#compdef phasegate
# phasegate completion for zsh. Load it with:  source <(phasegate completion zsh)
_phasegate() {
  local cmd=\${words[2]}
  if (( CURRENT == 2 )); then
    compadd -- ${t.top.join(' ')} --help --version
    return
  fi
  if [[ $cmd == plan ]]; then
    if (( CURRENT == 3 )); then
      compadd -- ${t.plan.join(' ')}
      return
    fi
    cmd="plan \${words[3]}"
  fi
  if [[ $cmd == completion ]]; then
    compadd -- bash zsh
    return
  fi
  local -a opts
  case $cmd in
${cases}
  esac
  if [[ \${words[CURRENT]} == -* ]]; then
    compadd -- $opts
    return
  fi
  local -a features
  features=(\${(f)"$(${FEATURES_SH})"})
  case $cmd in
    ${t.fileArgs.map((p) => `"${p}"`).join('|') || '__none__'}) _files; compadd -- $features ;;
    ${t.featureArgs.map((p) => `"${p}"`).join('|') || '__none__'}) compadd -- $features ;;
  esac
}
compdef _phasegate phasegate
`;
}

/** The completion script for a shell. */
export function completionScript(
  shell: CompletionShell,
  commands: readonly CommandSpec[],
  globals: Readonly<Record<string, Readonly<Record<string, OptionSpec>>>>,
  extraTop: readonly string[] = [],
): string {
  const t = tableOf(commands, globals, extraTop);
  return shell === 'bash' ? bash(t) : zsh(t);
}
