/**
 * The longest a Node timer waits (about 24.8 days): given more, it fires after 1 ms. Waits configured
 * or computed longer are taken as this long (a drain: as long as the calls take; grpc-js reads it as
 * no idle limit or connection age; a work-queue key due later wakes then and is queued again).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
