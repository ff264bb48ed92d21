// Package lease makes one sink process the only writer of a consumer
// group's files: a Redis key (SET NX PX) names the holder and expires
// unless renewed. A second sink waits as a standby until the key is free;
// a holder that cannot renew within the lease time stops writing. A holder
// restarted under the same name takes its own lease over at once.
package lease
