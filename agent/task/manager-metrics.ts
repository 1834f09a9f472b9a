// What the task manager reports for metrics. Optional in ManagerDeps, so unit tests and tools leave it out.

/** The timed steps of a task's setup, in the order they run (cni_add is timed around each plugin call). */
export type SetupStep = 'eni_wait' | 'pause_create' | 'pause_start' | 'cni_add' | 'container_create' | 'container_start';

/**
 * What the manager's reconciliation did about a task that drifted from its record: retried a failed
 * teardown, rolled back a setup a crash interrupted, stopped a task whose pause container or network is gone.
 */
export type ReconcileAction = 'cleanup_retry' | 'rollback_interrupted' | 'roll_forward' | 'stop_lost_pause' | 'stop_network_lost';

export interface ManagerMetrics {
  /** A step finished successfully after `ms`. `plugin` names the CNI plugin for cni_add. */
  observeStep(step: SetupStep, ms: number, plugin?: string): void;
  reconcileAction(action: ReconcileAction): void;
}
