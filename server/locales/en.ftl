# What customers read: the feedback form, its pages and its emails (English).
# Every message here must exist in every other catalogue of this folder
# (the i18n tests check it). `$tech` is the technician's first name,
# `$brand` the company's name from --brand-name.

## Dates: "1 January 1990"
date-long = { $day } { $month } { $year }
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December

## The form
form-title = How did the visit go?
visit-date = Date
visit-technician = Technician
work-service-visit = Service visit: { $product }
visit-work = Work done
tech-unnamed = Our technician
tech-unnamed-inline = our technician
errors-intro = Please check your answers:
answer-yes = Yes
answer-no = No
scale-ends = { $lo } = { $low }, { $hi } = { $high }
send = Send feedback

q-fixed-prompt = Was the problem fixed?
q-fixed-invalid = Please say whether the problem was fixed.
q-rating-prompt = Overall, how was the visit?
q-rating-invalid = Please choose an overall rating from 1 to 5.
q-rating-low = very poor
q-rating-high = excellent
q-courtesy-prompt = How courteous was { $tech }?
q-courtesy-invalid = Please rate the technician's courtesy from 1 to 5.
q-courtesy-low = very poor
q-courtesy-high = excellent
q-recommend-prompt = How likely are you to recommend us to a friend?
q-recommend-invalid = Please choose a number from 0 to 10.
q-recommend-low = not at all likely
q-recommend-high = extremely likely
q-comment-prompt = Anything else you would like to tell us? (optional)
q-comment-invalid = Please keep the comment under { $max } characters.
error-card-number = Please leave card numbers out of your answer: we never store them. Write it again without the number.
error-unusual-characters = Please remove the unusual characters from your answer.

## The form's other pages
thanks-title = Thank you!
thanks-text = Your feedback has been received. It helps us do better.
answered-title = Already answered
answered-text = Feedback for this visit has already been given. Thank you!
expired-title = This link has expired
expired-text = Thank you for your interest. Feedback links work for a limited time, and this one has ended.
not-found-title = Link not found
not-found-text = This feedback link is not valid. Please check that you opened the whole link from your message.
too-many-title = Too many requests
too-many-text = Please wait a minute and try again.
failed-title = Something went wrong
failed-text = Please try again in a little while.
failed-not-saved = Your answers were not saved. Please try again in a little while.
unsubscribe-title = Stop feedback requests
unsubscribe-question = Stop feedback requests?
unsubscribe-text = We will not ask you for feedback about future visits.
unsubscribe-button = Yes, stop feedback requests
unsubscribed-title = You are unsubscribed
unsubscribed-text = You will receive no more feedback requests from us.

## The feedback request (email and SMS)
email-subject = How did { $tech }'s visit on { $date } go?
email-greeting-name = Hello { $name },
email-greeting = Hello,
email-visited = { $tech } visited you on { $date } ({ $work }).
email-ask = Could you tell us how it went? It takes a minute.
email-button = Give feedback
email-or-link = Or open this link:
email-thanks = Thank you.
email-unsubscribe = Receive no more feedback requests
email-unsubscribe-text = To receive no more feedback requests:
sms-request = { $brand }: how did { $tech }'s visit on { $date } go? Tell us in a minute: { $link } (no more requests: { $unsubscribe })

## The invoice (email, reminder and printable page)
invoice-title = Invoice { $number }
invoice-number = Invoice number
invoice-customer = Customer
invoice-issued = Issued
invoice-visit = Visit
invoice-price-book = Price book
invoice-price-book-version = version { $version }
invoice-lines-caption = Lines as billed when the visit completed
invoice-description = Description
invoice-quantity = Quantity
invoice-unit-price = Unit price
invoice-amount = Amount
invoice-callout = Call-out
invoice-labour = Labour ({ $rate })
invoice-labour-note = Labour ({ $rate }): { $note }
invoice-covered-warranty = (covered by warranty)
invoice-covered-contract = (covered by contract { $contract })
invoice-subtotal = Subtotal
invoice-tax = Tax ({ $rate } %)
invoice-total = Total
invoice-paid = Paid on site
invoice-credited = Credit notes
invoice-refunded = Refunded
invoice-due = Amount due
invoice-subject = Your invoice { $number } ({ $total })
invoice-reminder-subject = Reminder: invoice { $number } ({ $due } due)
invoice-intro = Thank you for having us. Here is invoice { $number } for the visit.
invoice-reminder-intro = This is a reminder that invoice { $number } of { $date } still has { $due } to pay.
invoice-button = View or print the invoice
invoice-view = View or print it:
invoice-thanks = Thank you.
invoice-not-found-title = Invoice not found
invoice-not-found-text = This link is not valid or has expired. Please contact us for a copy of your invoice.
