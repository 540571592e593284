// A job whose change the server refuses recovers, through the generated
// Kotlin bindings on the JVM. Run by tests/tests/mobile/recovery.rs in two
// processes:
//   work <dir> <server> <user> <password> <jobId> <vanId>   log in, sync; offline: travel, arrival,
//                                                          a part from the van, labour, another
//                                                          part from the van, a note
//   recover <dir> <jobId> <part> <part2> <labour> <newVanId>
//                                                          a new process, after the office moved the
//                                                          technician to another van: sync
package recovery

import com.fieldsync.*
import kotlin.system.exitProcess

fun ensure(cond: Boolean, what: String) {
    if (!cond) throw AssertionError(what)
}

fun work(dir: String, server: String, user: String, password: String, jobId: String, vanId: String) {
    FieldsyncClient.open(dir).use { c ->
        c.login(server, user, password, "Kotlin recovery device")
        val first = c.sync()
        ensure(first.addedJobs == 1u, "sync added ${first.addedJobs}")
        ensure(c.vanStock()?.vanId == vanId, "van ${c.vanStock()?.vanId}")

        // Offline from here. The part comes from the only van this device knows.
        c.startTravel(jobId)
        c.arrive(jobId)
        val part = c.usePart(jobId, "VALVE-22", 1u, listOf(), null)
        val labour = c.addLabour(jobId, 30u, "standard", "Replaced the valve")
        val part2 = c.usePart(jobId, "VALVE-22", 1u, listOf(), null)
        c.addNote(jobId, "Valve replaced, customer happy")
        ensure(c.pendingChangeCount() == 6UL, "pending ${c.pendingChangeCount()}")
        println("IDS $part $part2 $labour")
    }
}

fun recover(dir: String, jobId: String, part: String, part2: String, labour: String, newVanId: String) {
    FieldsyncClient.open(dir).use { c ->
        // One sync: the server refuses the first part (its van is no longer
        // the technician's); the library rebuilds the job without it, drops
        // the second part itself on replay (the van stock that came in the
        // same reply names the new van), and sends the rest in the next round.
        val result = c.sync()
        val outcome = result.jobs.single { it.jobId == jobId }.outcome
        ensure(outcome is JobSyncOutcome.Accepted, "outcome $outcome")
        ensure(result.rounds == 2u, "rounds ${result.rounds}")
        ensure(result.rejectedActions.size == 2, "dropped ${result.rejectedActions}")
        val (dropped, dropped2) = result.rejectedActions
        ensure(dropped.action == "use_part" && dropped.lineId == part, "dropped $dropped")
        ensure(dropped.code == "wrong_van" && dropped.refusedByServer, "dropped $dropped")
        ensure(dropped.actionJson.contains("VALVE-22"), "action ${dropped.actionJson}")
        ensure(dropped2.action == "use_part" && dropped2.lineId == part2, "dropped $dropped2")
        ensure(dropped2.code == "wrong_van" && !dropped2.refusedByServer, "dropped $dropped2")
        ensure(c.rejectedActions() == result.rejectedActions, "listed ${c.rejectedActions()}")

        // Nothing valid is lost: everything else is on the device and was sent.
        ensure(c.pendingChangeCount() == 0UL, "pending ${c.pendingChangeCount()}")
        ensure(c.conflicts().isEmpty(), "conflicts ${c.conflicts()}")
        val job = c.job(jobId)
        ensure(job.summary.status == "on_site" && !job.summary.frozen, "summary ${job.summary}")
        ensure(job.parts.isEmpty(), "parts ${job.parts}")
        ensure(job.labour.single().id == labour, "labour ${job.labour}")
        ensure(job.notes.contains("customer happy"), "notes ${job.notes}")
        ensure(c.vanStock()?.vanId == newVanId, "van ${c.vanStock()?.vanId}")

        // The technician takes the part again, from the new van; it syncs.
        val again = c.usePart(jobId, "VALVE-22", 1u, listOf(), null)
        c.dismissRejectedActions(listOf(dropped.id, dropped2.id))
        val next = c.sync()
        ensure(next.jobs.single { it.jobId == jobId }.outcome is JobSyncOutcome.Accepted, "next $next")
        ensure(next.rejectedActions.isEmpty() && c.rejectedActions().isEmpty(), "still rejected")
        ensure(c.pendingChangeCount() == 0UL, "pending after redo")
        println("REDONE $again")
    }
}

fun main(args: Array<String>) {
    when (args.getOrNull(0)) {
        "work" -> work(args[1], args[2], args[3], args[4], args[5], args[6])
        "recover" -> recover(args[1], args[2], args[3], args[4], args[5], args[6])
        else -> {
            System.err.println("usage: work|recover ...")
            exitProcess(2)
        }
    }
}
