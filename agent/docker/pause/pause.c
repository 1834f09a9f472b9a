/*
 * pause: the process that holds a task's network namespace open.
 *
 * Modelled on the Amazon ECS agent's (and Kubernetes') pause.c: it does
 * nothing but sleep, exits 0 on SIGINT/SIGTERM so `docker stop` is quick and
 * clean, and, as PID 1 of its container, reaps any zombie handed to it.
 *
 * Build: gcc -static -Os -o build/pause/pause agent/docker/pause/pause.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_err(const char *msg) {
  /* write(2) only: stdio is not async-signal-safe. */
  ssize_t unused = write(STDERR_FILENO, msg, strlen(msg));
  (void)unused;
}

static void on_shutdown(int signo) {
  write_err(signo == SIGINT ? "pause: got SIGINT, exiting\n"
                            : "pause: got SIGTERM, exiting\n");
  _exit(0);
}

static void on_child(int signo) {
  int saved = errno; /* don't clobber errno of the interrupted code */
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
  errno = saved;
}

static int install(int signo, void (*handler)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  return sigaction(signo, &sa, NULL);
}

int main(void) {
  if (getpid() != 1)
    /* Not an error: pause is also useful outside an infra container. */
    write_err("pause: warning: not running as PID 1\n");

  if (install(SIGINT, on_shutdown, 0) < 0)
    return 1;
  if (install(SIGTERM, on_shutdown, 0) < 0)
    return 2;
  if (install(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART) < 0)
    return 3;

  for (;;)
    pause();

  write_err("pause: error: infinite loop terminated\n");
  return 42;
}
