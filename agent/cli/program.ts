// The CLI's commander plumbing: the daemon's flags generated from the option table (config.ts OPTIONS),
// boolean flags that also take an explicit true or false (`--block-imds false`, as the ECS agent's
// settings are written), the help layout, and how parse errors become exit codes and messages.
// The commands themselves are declared in cli.ts.
import { Command, CommanderError, Help, Option } from 'commander';
import { OPTIONS, type ConfigOption } from '../daemon/config.js';

export const EXIT = { OK: 0, TASK_STOPPED: 1, USAGE: 2, NOT_FOUND: 3, CONFLICT: 4, UNREACHABLE: 5, INTERNAL: 6 } as const;

/** A command used wrongly: its message, then the command's help, exit 2. */
export class UsageError extends Error {}

export interface Io {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Boolean flags that may take an explicit value after them; see AwsvpcdCommand.parseOptions. */
const explicitBool = new WeakSet<Option>();
/** Of those, the ones only whose presence counts (`--json false` is still --json): help shows them bare. */
const presenceOnly = new WeakSet<Option>();

/**
 * A boolean flag: bare, `--flag true|false` (any case) or `--flag=VALUE`. Its value reaches the command
 * as a string ("true" when bare). `presence`: the command only asks whether it was given.
 */
export function boolOption(flag: string, description: string, opts: { presence?: boolean } = {}): Option {
  const o = new Option(`${flag} [true|false]`, description);
  explicitBool.add(o);
  if (opts.presence) presenceOnly.add(o);
  return o;
}

export class AwsvpcdCommand extends Command {
  override createCommand(name?: string): AwsvpcdCommand {
    return new AwsvpcdCommand(name);
  }

  /**
   * Commander gives an option with an optional value the next argument whatever it is, so `--json TASK`
   * would take TASK. Here a boolean flag takes only an explicit true or false after it: that one is
   * joined on (`--block-imds=false`) and a bare flag becomes `=true`, which commander then reads without
   * looking ahead. The value of an option that needs one is passed over (`--socket --json` is a socket
   * path), and nothing after `--` is touched.
   */
  override parseOptions(argv: string[]): ReturnType<Command['parseOptions']> {
    const out: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '--') {
        out.push(...argv.slice(i));
        break;
      }
      const o = this.options.find((x) => x.long === a);
      if (o && explicitBool.has(o)) {
        const next = argv[i + 1];
        if (next !== undefined && /^(true|false)$/i.test(next)) {
          out.push(`${a}=${next}`);
          i++;
        } else out.push(`${a}=true`);
      } else {
        out.push(a);
        if (o?.required && i + 1 < argv.length) out.push(argv[++i]!);
      }
    }
    return super.parseOptions(out);
  }
}

const VALUE_NAME: Record<Exclude<ConfigOption['kind'], 'bool'>, string> = {
  string: '<value>',
  int: '<n>',
  list: '<a,b,...>',
  'json-list': '<json-array>',
  'json-map': '<json-object>',
};

export const DAEMON_FLAGS_HEADING = 'daemon flags (precedence: flag > environment > --config-file JSON > /etc/ecs/ecs.config > default):';

/**
 * The daemon's flags, one commander option per OPTIONS entry. Commander gets no defaults and no
 * environment variables: config.ts resolves every source in its precedence and reports where each value
 * came from, so commander only says which flags were given, and with what.
 */
export function addDaemonOptions(cmd: Command): Command {
  for (const o of OPTIONS) {
    const description = `env ${(o.env ?? []).join(', ')}`;
    const opt = o.kind === 'bool' ? boolOption(o.flag, description) : new Option(`${o.flag} ${VALUE_NAME[o.kind]}`, description);
    cmd.addOption(opt.helpGroup(DAEMON_FLAGS_HEADING));
  }
  return cmd;
}

/** The daemon flags given on the command line, flag -> value, as config.ts's loadConfig takes them. */
export function daemonFlags(cmd: Command): Map<string, string> {
  const flags = new Map<string, string>();
  for (const o of OPTIONS) {
    const opt = cmd.options.find((x) => x.long === o.flag);
    const v: unknown = opt ? cmd.getOptionValue(opt.attributeName()) : undefined;
    if (v !== undefined) flags.set(o.flag, String(v));
  }
  return flags;
}

/** Commands are listed by their usage (`run-task --file F [--wait] ...`); a longer one puts its description below. */
const TERM_WIDTH = 21;

function configureHelp(cmd: Command): void {
  cmd.configureHelp({
    subcommandTerm: (c: Command) => `${c.name()} ${c.usage()}`.trimEnd(),
    optionTerm(this: Help, o: Option) {
      return presenceOnly.has(o) ? o.long! : Help.prototype.optionTerm.call(this, o);
    },
    longestSubcommandTermLength(this: Help, c: Command, helper: Help) {
      return Math.min(TERM_WIDTH, Help.prototype.longestSubcommandTermLength.call(this, c, helper));
    },
    formatItem(this: Help, term: string, termWidth: number, description: string, helper: Help) {
      const item = (t: string): string => Help.prototype.formatItem.call(this, t, termWidth, description, helper);
      return description && helper.displayWidth(term) > termWidth ? `  ${term}\n${item('')}` : item(term);
    },
  });
}

/** The root command: usage, help layout and error handling that every subcommand inherits. */
export function createProgram(io: Io): AwsvpcdCommand {
  const program = new AwsvpcdCommand('awsvpcd').usage('<command> [flags]');
  program.exitOverride();
  program.configureOutput({
    writeOut: (s) => void io.out.write(s),
    writeErr: (s) => void io.err.write(s),
    // Errors are written by run() below, in this CLI's own words.
    outputError: () => {},
  });
  configureHelp(program);
  program.helpCommand(false); // see addHelpCommand
  program.addHelpText(
    'after',
    '\nevery client command takes --socket (default /run/awsvpcd/api.sock, env AWSVPCD_SOCKET)\n\n' +
      `${DAEMON_FLAGS_HEADING}\n${OPTIONS.map((o) => `  ${o.flag.padEnd(28)} env ${(o.env ?? []).join(', ')}`).join('\n')}\n`,
  );
  return program;
}

/**
 * `help [command]`, added after the other commands so it is listed last. Commander's own help command
 * fails on a name it does not know; `awsvpcd help ANYTHING` has always shown the help and exited 0.
 */
export function addHelpCommand(program: Command): void {
  program
    .command('help')
    .usage('[command]')
    .description('display help for command')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action((...args: unknown[]) => {
      const name = (args[args.length - 1] as Command).args[0];
      (program.commands.find((c) => c.name() === name && name !== 'help') ?? program).outputHelp();
    });
}

/** The flag a commander message is about: "error: option '--state-dir <value>' argument missing" -> --state-dir. */
export function flagOf(message: string): string {
  const m = /'(-[^' =]+)/.exec(message);
  return m ? m[1]! : message.replace(/^error: /, '');
}

/**
 * Parses and runs `argv`, returning the exit code from `code()` (set by the command's action), or the
 * usage error's: 2, with the message and the help of the command concerned on stderr. An unknown flag
 * is named as config.ts names one ("--foo: unknown flag"), without the help.
 */
export async function run(program: Command, argv: string[], io: Io, code: () => number): Promise<number> {
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.USAGE;
  }
  let active: Command = program;
  program.hook('preSubcommand', (_root, sub) => {
    active = sub;
  });
  const usage = (cmd: Command, message: string): number => {
    io.err.write(`awsvpcd: ${message}\n\n`);
    cmd.outputHelp({ error: true });
    return EXIT.USAGE;
  };
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code();
  } catch (err) {
    if (err instanceof UsageError) return usage(active, err.message);
    if (!(err instanceof CommanderError)) throw err;
    switch (err.code) {
      case 'commander.helpDisplayed':
      case 'commander.help':
      case 'commander.version':
        return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      case 'commander.unknownCommand':
        return usage(program, `unknown command ${JSON.stringify(program.args[0])}`);
      case 'commander.unknownOption':
        // Before any command, a flag is where the command should be.
        if (active === program) return usage(program, `unknown command ${JSON.stringify(program.args[0] ?? flagOf(err.message))}`);
        io.err.write(`awsvpcd: ${flagOf(err.message)}: unknown flag\n`);
        return EXIT.USAGE;
      case 'commander.optionMissingArgument':
        return usage(active, `${flagOf(err.message)} needs a value`);
      default:
        return usage(active, err.message.replace(/^error: /, ''));
    }
  }
}
