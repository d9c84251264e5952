// Package provision is the engine: it observes a tenant, plans the changes that bring it to
// what the manifests describe (a pure function, no I/O), and applies them in dependency order.
//
// The plan is one data structure, a sorted list of Change, that both renderers (text and
// JSON) and Apply read; nothing else is carried between planning and applying, so what a
// user approved is what runs.
//
// # Kinds
//
// The engine grows by kinds of object. Each kind lives in its own file (its desired form,
// what it observes, its planner and its apply) behind one contract, and is listed once in the
// registry, in dependency order: an object's kind comes before the kinds of objects that
// refer to it. Nothing outside a kind's file knows what the kind does. The kinds, in order:
//
//   - resources.go: the resource APIs (Microsoft Graph, Exchange Online, any API named):
//     read-only; resolves permission names to ids.
//   - directory.go: the users and groups the manifests name: read-only; resolves names to
//     objects for the kinds that name them.
//   - application.go: the app registration (application).
//   - serviceprincipal.go: its enterprise app (service_principal).
//   - delegatedgrant.go: admin consent to delegated permissions (delegated_grant).
//   - approle.go: admin consent to application permissions (app_role_assignment).
//   - secret.go: client secrets, their delivery to sinks and rotation (secret).
//   - userassignment.go: users and groups assigned to the enterprise app (user_assignment).
//   - sendas.go: Send-As rights in Exchange Online (send_as).
//   - mailbox.go: the listed mailboxes and the application's registration as Exchange holds
//     them: read-only; resolves the mailboxes for the three mailbox kinds.
//   - mailboxsmtpauth.go: a mailbox's SMTP AUTH switch (mailbox_smtp_auth).
//   - exchangeserviceprincipal.go: the application registered in Exchange Online
//     (exchange_service_principal).
//   - mailboxfullaccess.go: the application's FullAccess on a mailbox (mailbox_full_access).
//
// # The kind contract
//
// Observe. A kind reads what it needs by queueing reads on a shared observation round
// (round.go). Its observe is called once per round, 1 to maxRounds, with what the earlier
// rounds found (the documents' Desired and Observed so far); it queues the reads of that
// round, each with the continuation that stores the answer in the documents' Observed.
// Graph reads travel together in $batch calls, so every kind's reads of one round cost one
// Graph round trip whatever the number of kinds and documents, and a plan with nothing to do
// costs three (applications; their service principals; what those hold). Exchange and local
// reads (sinks) run alongside, concurrently and bounded. A kind queues nothing in a round it
// has no reads for; observation stops at the first empty round. Observe never writes.
//
// Plan. A kind's plan is pure: from one document's Desired and Observed, and what earlier
// kinds resolved (the matched application, its service principal, the resolved
// permissions), it appends its changes, its warnings and the manifest's problems at their
// line. No I/O, and no clock but PlanOptions.Now.
//
// Apply. A kind's apply carries out one change idempotently and returns the object's id:
// creating what exists reconciles it, deleting what is gone succeeds, and a create whose
// answer was lost (a dropped connection, a 5xx once the write was made, a success without
// the object) is looked up or sent again without ever making a second object. Ids flow
// forward through the run's per-application state: a kind reads the ids earlier kinds
// produced (object id, appId, service principal id) and records the ones it produces, marking
// objects created moments ago so that writes referring to them ride out replication lag.
//
// Scheduling. A kind's traits give its stage: apply runs the stages in order and the changes
// of one stage together; an application whose change failed has its later stages skipped,
// other applications go on. Within a stage, a bound of changes run at once (one, in plan
// order, for the kinds whose changes depend on each other). Kinds that batch have their writes
// sent first in $batch calls; what a batch did not settle goes through apply one by one. The
// scheduler (apply.go) owns skipping, failure, cancellation and progress for every kind.
//
// Rights. A kind's traits list the operations of package rights its reads and writes
// perform; a refused call is explained with rights.ExplainDenied, which names the step of the
// rights table (and so the permission or role) it needs.
//
// A new kind is one new file implementing the contract, its line in the registry (kinds in
// kind.go), its operations in package rights, its routes in the simulated tenant, and its
// tests.
package provision
