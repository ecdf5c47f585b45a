import type { Command } from 'commander';
import { SummonError } from '../../../core/errors.js';
import type { Io } from '../../context.js';

interface Entry {
  names: string[];
  description: string;
  options: string[];
}

/** Every command (and alias) with its long and short options, from commander's own list. */
export function commandTable(program: Command): Entry[] {
  return program.commands.map((c) => ({
    names: [c.name(), ...c.aliases()],
    description: c.description(),
    options: [...c.options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f))), '--help'],
  }));
}

export function bashScript(program: Command): string {
  const entries = commandTable(program);
  const names = entries.flatMap((e) => e.names);
  const cases = entries.map((e) => `    ${e.names.join('|')}) opts=${JSON.stringify(e.options.join(' '))} ;;`).join('\n');
  return `# summon bash completion: eval "$(summon completion bash)" (e.g. in ~/.bashrc)
_summon() {
  # Words from the line itself: bash splits "apps:info" at the colon (COMP_WORDBREAKS).
  local line="\${COMP_LINE:0:\$COMP_POINT}"
  local -a words
  read -r -a words <<< "$line"
  local cur=""
  [[ "$line" == *" " ]] || { cur="\${words[\${#words[@]}-1]}"; unset 'words[\${#words[@]}-1]'; }
  local opts=""
  if [[ \${#words[@]} -le 1 ]]; then
    opts=${JSON.stringify(['--help', '--version', ...names].join(' '))}
  else
    case "\${words[1]}" in
${cases}
    esac
  fi
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  # Drop what bash already holds before the last colon of the word.
  if [[ "$cur" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
    local pre="\${cur%"\${cur##*:}"}"
    local i
    for i in "\${!COMPREPLY[@]}"; do COMPREPLY[$i]="\${COMPREPLY[$i]#"$pre"}"; done
  fi
}
complete -o default -F _summon summon
`;
}

export function zshScript(program: Command): string {
  const entries = commandTable(program);
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const describe = entries.flatMap((e) => e.names.map((n) => `    ${q(`${n.replace(/:/g, '\\:')}:${e.description.replace(/\s+/g, ' ').slice(0, 100)}`)}`)).join('\n');
  const cases = entries.map((e) => `    ${e.names.map((n) => n.replace(/([:|()])/g, '\\$1')).join('|')}) opts=(${e.options.map(q).join(' ')}) ;;`).join('\n');
  return `#compdef summon
# summon zsh completion: eval "$(summon completion zsh)" (after compinit), or save it as _summon on $fpath
_summon() {
  local -a cmds opts
  cmds=(
${describe}
  )
  if (( CURRENT == 2 )); then
    _describe 'summon command' cmds
    return
  fi
  case "\${words[2]}" in
${cases}
  esac
  (( \${#opts} )) && compadd -- "\${opts[@]}"
  _files
}
if [[ "\${funcstack[1]}" == _summon ]]; then _summon "$@"; else compdef _summon summon; fi
`;
}

export function registerCompletion(program: Command, io: Io, run: (f: () => Promise<void>) => Promise<void>): void {
  program.command('completion <shell>').description('print a shell completion script: bash or zsh, e.g. eval "$(summon completion bash)"')
    .action((shell: string) => run(async () => {
      if (shell === 'bash') return io.out(bashScript(program).trimEnd());
      if (shell === 'zsh') return io.out(zshScript(program).trimEnd());
      throw new SummonError('invalid_input', `completion is for bash or zsh, got ${JSON.stringify(shell)}: run \`summon completion bash\` or \`summon completion zsh\``);
    }));
}
