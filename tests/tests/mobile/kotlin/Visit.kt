// A technician's visit through the generated Kotlin bindings, on the JVM.
// Run by tests/tests/mobile/visit.rs in two processes:
//   visit <dir> <server> <user> <password> <jobId> <vanId> <campaignId>
//                                                           log in, sync, then offline: the whole visit
//                                                           (the user's van, holding 4 VALVE-22 and pump SN-1;
//                                                           the job's registry asset BOILER-X200, warranty
//                                                           ended 2025-01-31, offers EXT-12 and PUMP-EXT;
//                                                           the job flagged by recall campaign <campaignId>,
//                                                           remedy "inspect")
//   check <dir> <jobId> <ids...> <total> <returnId>         a new process: everything is still there; sync
import com.fieldsync.*
import kotlin.system.exitProcess

fun check(cond: Boolean, what: String) {
    if (!cond) throw AssertionError(what)
}

inline fun <reified E : Throwable> refused(what: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("$what: expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("$what: expected ${E::class.simpleName}, nothing thrown")
}

// The asset's warranty end, shown through the library, and an extension
// quoted from the price book the phone holds and sold on site.
fun sellExtension(c: FieldsyncClient, jobId: String) {
    val job = c.job(jobId)
    check(job.warrantyEnd == "2025-01-31" && job.assetSku == "BOILER-X200", "asset ${job.warrantyEnd} ${job.assetSku}")
    // Only the offers for the asset's product (PUMP-EXT is the pump's).
    val offers = c.extensionOffers(jobId)
    check(offers.map { it.code } == listOf("EXT-12"), "offers $offers")
    val ext = offers.single()
    check(ext.priceMinor == 6900L && ext.taxMinor == 1380L && ext.priceWithTaxMinor == 8280L && ext.currency == "EUR", "quote $ext")
    // An ended warranty restarts from today.
    val today = java.time.LocalDate.now(java.time.ZoneOffset.UTC)
    check(ext.warrantyEndAfter == today.plusMonths(12).toString(), "ends ${ext.warrantyEndAfter}")
    val foreign = refused<FieldsyncException.Rejected>("another product's offer") { c.sellExtension(jobId, "PUMP-EXT") }
    check(foreign.code == "forbidden" && foreign.reason.contains("not for this asset's product"), "foreign $foreign")
    val unknown = refused<FieldsyncException.Rejected>("an unknown offer") { c.sellExtension(jobId, "EXT-99") }
    check(unknown.code == "not_in_price_book", "unknown $unknown")
    c.sellExtension(jobId, "EXT-12")
    refused<FieldsyncException.NotAllowed>("a second sale") { c.sellExtension(jobId, "EXT-12") }
    val sold = c.job(jobId)
    check(sold.warrantyExtension?.offer == "EXT-12" && sold.warrantyExtension?.months == 12u, "sale ${sold.warrantyExtension}")
    val line = sold.billing!!.lines.single { it.kind == "extension" }
    check(line.chargedMinor == 6900L && line.coveredBy == null, "line $line")
}

// The recall that flagged the job, shown through the library, and its
// remedy recorded: inspected on site, nothing replaced.
fun remedyRecall(c: FieldsyncClient, jobId: String, campaignId: String) {
    val job = c.job(jobId)
    val recall = job.recall ?: throw AssertionError("the job shows no recall")
    check(recall.campaignId == campaignId, "campaign ${recall.campaignId}")
    check(recall.reason == "Flue seal may perish" && recall.remedy == "inspect", "recall $recall")
    check(recall.compensation == "A free annual service", "compensation ${recall.compensation}")
    check(job.recallRemedy == null, "remedy before ${job.recallRemedy}")
    refused<FieldsyncException.InvalidInput>("an unknown replacement") {
        c.recordRecallRemedy(jobId, "swapped", listOf(), null, null)
    }
    refused<FieldsyncException.InvalidInput>("a temporary replacement without its committed date") {
        c.recordRecallRemedy(jobId, "temporary", listOf("BX-K9"), null, null)
    }
    check(c.job(jobId).recallRemedy == null, "nothing kept from a refused remedy")
    c.recordRecallRemedy(jobId, "none", listOf(), null, "A free annual service")
    val remedy = c.job(jobId).recallRemedy ?: throw AssertionError("no remedy recorded")
    check(remedy.replacement == "none" && remedy.serials.isEmpty() && remedy.committedDate == null, "remedy $remedy")
    check(remedy.service == "A free annual service", "service ${remedy.service}")
}

// The old pump goes back: a return (RMA) opened offline, shown by its
// provisional reference until a sync brings the server's RMA number.
fun openReturn(c: FieldsyncClient, jobId: String): String {
    refused<FieldsyncException.InvalidInput>("an unknown condition") {
        c.openReturn(jobId, "PUMP-7", "PUMP-OLD-9", "Seized bearing", "melted")
    }
    refused<FieldsyncException.InvalidInput>("a return without a serial") {
        c.openReturn(jobId, "PUMP-7", " ", "Seized bearing", "faulty")
    }
    check(c.job(jobId).returns.isEmpty(), "nothing kept from a refused return")
    val id = c.openReturn(jobId, "PUMP-7", "PUMP-OLD-9", "Seized bearing", "faulty")
    val ret = c.job(jobId).returns.single()
    check(ret.id == id && ret.sku == "PUMP-7" && ret.serial == "PUMP-OLD-9", "return $ret")
    check(ret.reason == "Seized bearing" && ret.condition == "faulty", "return $ret")
    check(ret.rmaNumber == null && ret.reference.startsWith("PRE-"), "offline reference $ret")
    return id
}

// A refund within the technician's limit (50.00, which the price book
// carries) against the card payment: bad input is a typed error and keeps
// nothing; the refund is given at once and shows on the bill.
fun giveRefund(c: FieldsyncClient, jobId: String, payment: String) {
    refused<FieldsyncException.InvalidInput>("a refund of nothing") {
        c.giveRefund(jobId, "refund", payment, 0L, "Arrived late")
    }
    refused<FieldsyncException.InvalidInput>("an unknown kind") {
        c.giveRefund(jobId, "voucher", payment, 1500L, "Arrived late")
    }
    val card = refused<FieldsyncException.InvalidInput>("card data in the reason") {
        c.giveRefund(jobId, "refund", payment, 1500L, "back to card 4111 1111 1111 1111")
    }
    check(!card.reason.contains("4111"), "the number is never echoed: ${card.reason}")
    refused<FieldsyncException.NotFound>("against no payment of the job") {
        c.giveRefund(jobId, "refund", "00000000-0000-0000-0000-000000000001", 1500L, "Arrived late")
    }
    check(c.job(jobId).billing!!.refunds.isEmpty(), "nothing kept from a refused refund")
    val refund = c.giveRefund(jobId, "refund", payment, 1500L, "Arrived late")
    val bill = c.job(jobId).billing!!
    val given = bill.refunds.single()
    check(given.id == refund && given.kind == "refund" && given.againstId == payment, "refund $given")
    check(given.state == "approved" && given.amountMinor == 1500L, "within the limit $given")
    check(bill.refundedMinor == 1500L && bill.pendingRefundsMinor == 0L, "bill $bill")
}

// The customer asks about a second boiler: a sales lead logged on site,
// offline, for the office's service desk (it reaches sales' queue with the
// next sync). Bad input is a typed error and keeps nothing.
fun logSalesLead(c: FieldsyncClient, jobId: String): String {
    val card = refused<FieldsyncException.InvalidInput>("card data in the summary") {
        c.logContact(jobId, "on_site", "inbound", "sales_lead", "Pays with 4111 1111 1111 1111")
    }
    check(!card.reason.contains("4111"), "the number is never echoed: ${card.reason}")
    refused<FieldsyncException.InvalidInput>("an unknown category") {
        c.logContact(jobId, "on_site", "inbound", "gossip", "Talked about the weather")
    }
    refused<FieldsyncException.InvalidInput>("an unknown channel") {
        c.logContact(jobId, "pigeon", "inbound", "sales_lead", "Wants a quote")
    }
    val before = c.pendingChangeCount()
    val id = c.logContact(jobId, "on_site", "inbound", "sales_lead", "Asks for a quote for a second boiler in the annex")
    check(c.pendingChangeCount() == before + 1UL, "one change for the contact")
    return id
}

fun visit(dir: String, server: String, user: String, password: String, jobId: String, vanId: String, campaignId: String) {
    FieldsyncClient.open(dir).use { c ->
        refused<FieldsyncException.BadCredentials>("wrong password") {
            c.login(server, user, "wrong password", "Kotlin test device")
        }
        val session = c.login(server, user, password, "Kotlin test device")
        check(session.role == "technician" && session.username == user, "session $session")

        // The day's jobs.
        val first = c.sync()
        check(first.addedJobs == 1u, "sync added ${first.addedJobs}")
        val jobs = c.jobs()
        check(jobs.map { it.id } == listOf(jobId), "jobs $jobs")
        check(jobs[0].status == "scheduled" && jobs[0].pendingChanges == 0u, "summary ${jobs[0]}")
        check(c.lastSyncTimeMs() != null, "last sync time")
        val van = c.vanStock() ?: throw AssertionError("no van stock synced")
        check(van.vanId == vanId, "van ${van.vanId}")
        val pumpStock = van.items.single { it.sku == "PUMP-7" }
        check(pumpStock.serialized && pumpStock.serials == listOf("SN-1"), "pump stock $pumpStock")

        // Offline from here: no network call until the next process.
        refused<FieldsyncException.NotAllowed>("complete before arriving") { c.complete(jobId) }
        c.startTravel(jobId)
        c.arrive(jobId)
        sellExtension(c, jobId)
        remedyRecall(c, jobId, campaignId)
        val labour = c.addLabour(jobId, 90u, "standard", "Replaced the pump")
        // A typo corrected in place, then the entry voided: kept, not billed.
        val typo = c.addLabour(jobId, 600u, "standard", "Flushed the system")
        c.correctLabourEntry(jobId, typo, 60u, "standard", "Flushed the system")
        c.voidLabourEntry(jobId, typo)
        refused<FieldsyncException.NotAllowed>("edit a voided entry") {
            c.correctLabourEntry(jobId, typo, 30u, "standard", "")
        }
        refused<FieldsyncException.Rejected>("a rate the price book lacks") {
            c.addLabour(jobId, 30u, "weekend", "")
        }
        // From the van the server sent (no van id given).
        val valve = c.usePart(jobId, "VALVE-22", 2u, listOf(), null)
        c.setPartQuantity(jobId, valve, 3u)
        c.setPartQuantity(jobId, valve, 2u)
        val noSerial = refused<FieldsyncException.InvalidInput>("serialized part without serial") {
            c.usePart(jobId, "PUMP-7", 1u, listOf(), null)
        }
        check(noSerial.reason.contains("serialized"), "reason ${noSerial.reason}")
        val pump = c.usePart(jobId, "PUMP-7", 1u, listOf("SN-1"), null)
        val rma = openReturn(c, jobId)
        // The van as the server last sent it, minus this device's unsynced use.
        val valves = c.vanStock()!!.items.single { it.sku == "VALVE-22" }
        check(valves.serverQuantity == 4L && valves.pendingUse == 2L && valves.available == 2L, "valves $valves")
        c.addNote(jobId, "Customer mentioned a noise at night")
        val contact = logSalesLead(c, jobId)
        val payment = c.recordPayment(jobId, "card", 5000L, "TERM-42")
        giveRefund(c, jobId, payment)
        c.captureSignature(jobId, "Ana Lima", "ab".repeat(32))
        c.complete(jobId)
        // 15 changes, 1 for the recall's remedy, 1 for the refund, 1 for the
        // return and 1 for the contact.
        check(c.pendingChangeCount() == 19UL, "pending ${c.pendingChangeCount()}")

        val job = c.job(jobId)
        val bill = job.billing ?: throw AssertionError("no bill: ${job.billingUnavailable}")
        // 45.00 call-out + 90 min at 60.00/h + 2 x 12.50 + 189.00 + the
        // extension 69.00 = 418.00, +20% tax.
        check(bill.subtotalMinor == 41800L, "subtotal ${bill.subtotalMinor}")
        // The refund of 15.00 (within the limit) is paid back: owed again.
        check(bill.totalMinor == 50160L && bill.balanceDueMinor == 46660L, "bill $bill")
        println("IDS $labour $valve $pump $payment ${bill.totalMinor} $rma $contact")
    }
}

fun checkAgain(dir: String, jobId: String, labour: String, valve: String, pump: String, payment: String, total: Long, rma: String) {
    FieldsyncClient.open(dir).use { c ->
        check(c.session()?.role == "technician", "session kept")
        val job = c.job(jobId)
        check(job.summary.status == "completed", "status ${job.summary.status}")
        check(job.statusHistory.map { it.to } == listOf("scheduled", "travelling", "on_site", "completed"), "history")
        val billed = job.labour.single { !it.voided }
        check(billed.id == labour && billed.minutes == 90u, "labour ${job.labour}")
        check(job.labour.single { it.voided }.minutes == 60u, "voided labour ${job.labour}")
        check(job.parts.map { it.id }.toSet() == setOf(valve, pump), "parts ${job.parts}")
        check(job.parts.single { it.id == pump }.serials == listOf("SN-1"), "serials")
        check(c.vanStock()!!.items.single { it.sku == "VALVE-22" }.available == 2L, "van after reopen")
        check(job.payments.single().id == payment && job.payments.single().amountMinor == 5000L, "payment")
        check(job.notes.contains("noise at night"), "notes")
        check(job.signature?.signer == "Ana Lima", "signature")
        check(job.billing?.totalMinor == total, "total")
        check(job.warrantyExtension?.offer == "EXT-12", "sale after reopen")
        check(job.recallRemedy?.replacement == "none", "remedy after reopen ${job.recallRemedy}")
        val offline = job.returns.single()
        check(offline.id == rma && offline.rmaNumber == null && offline.reference.startsWith("PRE-"), "return after reopen $offline")
        check(job.billing?.refunds?.single()?.state == "approved", "refund after reopen ${job.billing?.refunds}")
        check(c.pendingChangeCount() == 19UL, "pending after reopen ${c.pendingChangeCount()}")

        val result = c.sync()
        val outcome = result.jobs.single { it.jobId == jobId }.outcome
        check(outcome is JobSyncOutcome.Accepted, "outcome $outcome")
        check(c.pendingChangeCount() == 0UL, "pending after sync ${c.pendingChangeCount()}")
        check(c.conflicts().isEmpty(), "conflicts ${c.conflicts()}")
        println("SYNCED rounds=${result.rounds}")
        // The ledger took the parts off the van; the next sync brings its
        // new van document, and nothing is pending on top of it.
        c.sync()
        val valves = c.vanStock()!!.items.single { it.sku == "VALVE-22" }
        check(valves.serverQuantity == 2L && valves.pendingUse == 0L && valves.available == 2L, "valves after sync $valves")
        // The server numbered the return: its RMA number came with a sync.
        val numbered = c.job(jobId).returns.single()
        val number = numbered.rmaNumber ?: throw AssertionError("no RMA number after sync: $numbered")
        check(Regex("RMA-\\d{4}-\\d{6}").matches(number) && numbered.reference == number, "numbered $numbered")
        println("RMA $number")
    }
    // The store is released: a second client opens it (and a second at once would not).
    FieldsyncClient.open(dir).use { c ->
        refused<FieldsyncException.StoreBusy>("second client") { FieldsyncClient.open(dir) }
        check(c.jobs().single().status == "completed", "reopened")
    }
}

fun main(args: Array<String>) {
    when (args.getOrNull(0)) {
        "visit" -> visit(args[1], args[2], args[3], args[4], args[5], args[6], args[7])
        "check" -> checkAgain(args[1], args[2], args[3], args[4], args[5], args[6], args[7].toLong(), args[8])
        else -> {
            System.err.println("usage: visit|check ...")
            exitProcess(2)
        }
    }
}
