/** The PATH a build step or an instance gets: the system's directories, never Summon's own PATH. */
export const CLEAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
