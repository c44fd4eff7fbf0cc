"""Every phrase the bot itself says, in English (the gettext source language).

Translations live in locales/<lang>/LC_MESSAGES/messages.po. Use `i18n.t(lang, messages.X, ...)`.
Placeholders are `{name}`; keep them unchanged in translations.
"""

from __future__ import annotations

from bot.i18n import _

# Greeting, language, menu
GREETING = _(
    "Hello! I am a free assistant for technical intern trainees in Japan. I can tell you your rights at work: "
    "minimum wage, changing jobs, fines, your passport and more. Write your question, or choose a topic."
)
CHOOSE_LANGUAGE = _("Which language do you want me to use?")
LANGUAGE_SET = _("OK, I will answer in English.")
MENU = _("What do you want to know? Choose a topic:")
HELP = _(
    "Write your question in your own words, or use these commands:\n"
    "/help - topics\n/language - change the language\n/human - talk to a volunteer\n"
    "/payslip - check your payslip\n/remind - tell me when the minimum wage changes\n"
    "/forget - delete your messages and data"
)
GOODBYE = _("Take care. Write to me any time if you need help.")
THANKS = _("You're welcome. Can I help with anything else?")
OUT_OF_SCOPE = _("I can only help with your rights at work in Japan. Choose a topic:")

# Buttons
BUTTON_MORE = _("More")
BUTTON_HUMAN = _("Talk to a person")
BUTTON_TOPICS = _("Other topics")
BUTTON_YES_DELETE = _("Yes, delete")
BUTTON_NO = _("No")
BUTTON_HOUR = _("Per hour")
BUTTON_DAY = _("Per day")
BUTTON_MONTH = _("Per month")

# Topic names (menu buttons)
TOPIC_NAMES = {
    "minimum_wage": _("Minimum wage"),
    "wage_check": _("Is my pay legal?"),
    "unpaid_overtime": _("Unpaid overtime"),
    "salary_deductions": _("Deductions from pay"),
    "fines_penalties": _("Fines and deposits"),
    "passport_confiscation": _("Passport taken"),
    "job_transfer": _("Changing employer"),
    "dismissal_return": _("Fired or sent home"),
    "harassment_violence": _("Violence and harassment"),
    "work_injury": _("Injury at work"),
    "pregnancy_rights": _("Pregnancy"),
    "paid_leave": _("Paid leave"),
    "broker_debt": _("Debts and broker fees"),
    "support_contacts": _("Where to get help"),
    "unpaid_wages": _("Pay not paid"),
    "leaving_employer": _("Leaving the company"),
    "visa_status": _("Visa and residence card"),
    "skill_development_system": _("New system from 2027"),
    "social_insurance": _("Insurance and pension"),
    "talk_to_human": _("Talk to a person"),
    "emergency": _("Emergency"),
}

# Questions the bot asks
ASK_PREFECTURE = _("In which prefecture is your workplace? For example: Aichi, 愛知, Osaka.")
UNKNOWN_PREFECTURE = _("I don't know that prefecture. Please write its name again, for example Aichi or 愛知.")
ASK_AMOUNT = _("How much are you paid? Write the amount, for example 900 yen an hour or 150,000 yen a month.")
ASK_PERIOD = _("Is that per hour, per day or per month?")
BAD_AMOUNT = _("Sorry, I cannot read that amount. Write it with numbers, for example 900 yen or 150,000 yen.")

# Minimum wage and wage check
MINIMUM_WAGE_RATE = _("The minimum wage in {prefecture} is {amount} per hour, in force since {date}.")
MINIMUM_WAGE_UPCOMING = _("From {date} it will be {amount} per hour.")
RATE_MAY_BE_OUTDATED = _(
    "This is the fiscal year {year} rate, the newest I have. The fiscal year {next_year} rate may already apply "
    "and may be higher: check the MHLW list of minimum wages or ask the Labour Standards Inspection Office."
)
#: The trainee's own hourly pay, as they stated it.
PAY_EXACT = _("You are paid {hourly} per hour.")
#: An hourly equivalent computed from a daily or monthly pay.
PAY_ABOUT = _("That is about {hourly} an hour.")
VERDICT_BELOW = _(
    "The minimum wage in {prefecture} is {minimum} an hour (since {date}): you get {shortfall_hour} an hour "
    "too little, about {shortfall_month} a month."
)
#: Below the newest rate we hold while a newer revision may already be in force: the shortfall is a minimum.
VERDICT_BELOW_OUTDATED = _(
    "The fiscal year {year} minimum wage in {prefecture} is {minimum} an hour (the {next_year} one may be higher): "
    "you get at least {shortfall_hour} an hour too little, about {shortfall_month} a month or more."
)
#: The pay is above the newest rate we hold, but a newer revision may already be in force (its data is missing).
VERDICT_OK_MAYBE_OUTDATED = _(
    "That is above the fiscal year {year} minimum wage in {prefecture} ({minimum} per hour). But the fiscal year "
    "{next_year} rate may already apply and may be higher. It is not in my data yet: check the MHLW list of "
    "minimum wages or ask the Labour Standards Inspection Office."
)
VERDICT_OK = _(
    "The minimum wage in {prefecture} is {minimum} per hour (since {date}). Your pay is at or above it."
)
#: Under a verdict on a monthly or daily pay: what was assumed. The trainee's reply with their hours recomputes it.
ASSUMED_MONTHLY_HOURS = _(
    "I counted {hours} hours a month (the legal maximum), before deductions. Fewer? Tell me, e.g. 7 hours a day."
)
#: After the trainee gave hours a day for a monthly pay.
ASSUMED_FIVE_DAYS = _("I counted {hours} hours a month: your hours a day, 5 days a week.")
ASSUMED_DAILY_HOURS = _(
    "I counted 8 hours a day (the legal maximum) and pay before deductions. Fewer hours? Tell me how many."
)
UNDERPAID_ADVICE = _(
    "Your employer owes you the difference. Call:"
)

# Understanding
CLARIFY = _("Sorry, I didn't understand that. Choose the closest topic, or talk to a person:")
OFFER_HUMAN = _("I still don't understand. Do you want to talk to a volunteer?")
NLU_DOWN = _("Sorry, I cannot understand messages right now. Choose a topic below, or talk to a person.")
NON_TEXT = _("Sorry, I can only read text messages. Please write your question, or choose a topic.")
ERROR = _("Sorry, something went wrong on my side. Please try again. If it is urgent, call 110 (police) or 119 (ambulance).")
NO_MORE = _("There is nothing more on this topic.")

# Handoff
HANDOFF_STARTED = _(
    "A volunteer from a support group will answer you here as soon as possible. It is free and confidential.\n"
    "In danger now? Call 110 (police) or 119 (ambulance)."
)
HANDOFF_URGENT = _("I have asked a volunteer to answer you urgently.")
HANDOFF_WAITING = _("Your message was passed to the volunteer.")
QUEUE_SOON = _(
    "You are number {position} in the queue. A volunteer should answer in about {minutes} minutes. "
    "Until then I will keep answering your questions."
)
QUEUE_OFF_HOURS = _(
    "Volunteers are not online now. The next one is available on {day} from {time} (Japan time). "
    "Until then I will keep answering your questions. In danger, call 110 (police) or 119 (ambulance) at any time."
)
QUEUE_AGAIN = _("The volunteer had to leave. You are back in the queue; the next volunteer will answer you here.")
VOLUNTEER_JOINED = _("{name}, a volunteer, has joined the chat. Write to them here. To go back to the bot, send /bot.")
BACK_TO_BOT = _("The volunteer has ended the chat. I (the bot) will answer your questions again.")
RATE_QUESTION = _("How much did the volunteer help you? 1 = not at all, 5 = very much.")
RATE_THANKS = _("Thank you for your answer.")
BUTTON_BACK_TO_BOT = _("Back to the bot")
#: Said instead of opening another handoff when the trainee (or their address) asked too often; the numbers follow.
HANDOFF_LIMIT = _(
    "The volunteers already have your request, so I cannot open a new one right now. To talk to someone now, "
    "call one of the numbers below. In danger, call 110 (police) or 119 (ambulance)."
)
WEEKDAYS = (
    _("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday"),
)

# Rate limits (bot/ratelimit.py)
#: Once per window to a trainee who writes faster than the limit: their messages are answered after it.
SLOW_DOWN = _(
    "You are sending messages very fast. I will read them in a moment and answer. "
    "In danger, call 110 (police) or 119 (ambulance) now."
)

# Emergency
#: The emergency reply: this line first, on its own, then the volunteer line (HANDOFF_URGENT), then the detail.
CALL_110_NOW = _("Call 110 now (police). Injured, or a fire: call 119.")
EMERGENCY = _(
    "Calls are free, day and night. Say where you are: an address, a shop name, or the number on a utility pole."
)

# Data deletion
FORGET_CONFIRM = _("Do you want me to delete all your messages and settings? This cannot be undone.")
FORGET_DONE = _("Deleted: {count} messages and your settings.")
FORGET_CANCELLED = _("OK, nothing was deleted.")

# Rendering of knowledge entries
CONTACTS_HEADER = _("Who can help:")
SOURCES_HEADER = _("Sources:")
#: Under a first reply: the most trusted source (an official publisher when there is one).
SOURCE_LINE = _("Source: {name}")
LAST_CHECKED = _("Last checked: {date}")
FREE_CALL = _("free call")
#: After a number that answers in English, shown to a trainee of another language when theirs has no line.
ENGLISH_LINE = _("English line")

# Payslip check (bot/payslip_check.py)
PAYSLIP_TITLE = _("Payslip check")
BUTTON_PAYSLIP = _("Check my payslip")
PAYSLIP_START = _(
    "Let's check your payslip (給与明細) line by line. Send a photo of it, or answer my questions one at a time. "
    "Press \"None\" if a line is not on your payslip, \"Skip\" if you don't know."
)
PAYSLIP_ASK_PREFECTURE = _("In which prefecture is your workplace?")
PAYSLIP_ASK_AMOUNT = _("{item} ({label}): how much is it on your payslip?")
PAYSLIP_ASK_HOURS = _("{item} ({label}): how many hours are on your payslip?")
PAYSLIP_I_READ = _("On your photo I read: {value}.")
PAYSLIP_BAD_NUMBER = _("I did not understand the number. Write only the number, for example 180000, or press Skip.")
PAYSLIP_READ = _(
    "I read this on your payslip:\n{lines}\n\nIs it right? Press \"Correct\", or \"Fix\" to go through it line by line."
)
PAYSLIP_UNREADABLE = _("I could not read your photo. Let's do the check with questions instead.")
PAYSLIP_NOT_A_PAYSLIP = _(
    "I can read a photo or a PDF of a payslip (JPEG, PNG or PDF, up to 10 MB). This file I cannot read."
)
PAYSLIP_NO_RATE = _("I don't have the minimum wage of that prefecture for today. A volunteer can help: /human")
PAYSLIP_HOURS = _("{hours} h")
PAYSLIP_LIKELY = _("(probably)")
PAYSLIP_UNSURE = _("(not sure: ask a person)")
PAYSLIP_V_BASE_BELOW = _(
    "❌ Base pay: about {hourly} an hour for {hours} hours. The minimum wage in {prefecture} is {minimum}. "
    "Short by about {shortfall} a month."
)
PAYSLIP_V_BASE_OK = _("✅ Base pay: about {hourly} an hour, not below the minimum wage in {prefecture} ({minimum}).")
PAYSLIP_V_PREMIUM_SHORT = _(
    "❌ {item}: for {hours} hours the law requires at least {expected}; you got {found}. Short by {shortfall}."
)
PAYSLIP_V_PREMIUM_OK = _("✅ {item}: {found} for {hours} hours includes the legal premium.")
PAYSLIP_V_NEVER = _("❌ {item}: {found}. This deduction is not allowed; you can ask for it back.")
PAYSLIP_V_ACTUAL_COST = _(
    "⚠️ {item}: {found}. Allowed only at the real cost and with a written agreement: ask for the breakdown."
)
PAYSLIP_V_AGREEMENT = _(
    "⚠️ {item}: {found}. Allowed only with a written labour-management agreement: ask to see it."
)
PAYSLIP_V_DEDUCTION_OK = _("✅ {item}: {found}.")
PAYSLIP_V_CANNOT = _("❓ {item}: I cannot judge this line.")
PAYSLIP_V_TOTALS = _("❓ The totals on the payslip do not add up: maybe a number was read wrong.")
PAYSLIP_V_STATUTORY = _("✅ Taxes and social insurance: {found}. The law requires these deductions.")
PAYSLIP_V_STATUTORY_UNSURE = _(
    "❓ Taxes and social insurance: {found}. That is a lot for one month: ask a person to check it."
)
PAYSLIP_OWED = _("In total you may be owed about {owed} a month.")
PAYSLIP_NOTHING_OWED = _("I found nothing owed in these lines.")
PAYSLIP_ASK_PERSON = _("Some lines need a person. A volunteer can look at your numbers: press \"Talk to a person\".")
BUTTON_NONE = _("None")
BUTTON_SKIP = _("Skip")
BUTTON_KEEP = _("Keep it")
BUTTON_CORRECT = _("Correct")
BUTTON_FIX = _("Fix")
ITEM_DAYS_WORKED = _("Days worked")
ITEM_HOURS_WORKED = _("Hours worked")
ITEM_OVERTIME_HOURS = _("Overtime hours")
ITEM_NIGHT_HOURS = _("Night hours")
ITEM_HOLIDAY_HOURS = _("Holiday hours")
ITEM_BASE_PAY = _("Base pay")
ITEM_OVERTIME_PAY = _("Overtime pay")
ITEM_NIGHT_PAY = _("Night pay")
ITEM_HOLIDAY_PAY = _("Holiday pay")
ITEM_ALLOWANCES = _("Allowances")
ITEM_HEALTH_INSURANCE = _("Health insurance")
ITEM_PENSION = _("Pension")
ITEM_EMPLOYMENT_INSURANCE = _("Employment insurance")
ITEM_INCOME_TAX = _("Income tax")
ITEM_RESIDENT_TAX = _("Resident tax")
ITEM_DORM = _("Dorm fee")
ITEM_UTILITIES = _("Water and electricity")
ITEM_MANAGEMENT_FEE = _("Supervision fee")
ITEM_SAVINGS = _("Savings")
ITEM_FINE = _("Fine or penalty")
ITEM_OTHER_DEDUCTIONS = _("Other deductions")
ITEM_GROSS_PAY = _("Total pay")
ITEM_TOTAL_DEDUCTIONS = _("Total deductions")
ITEM_NET_PAY = _("Net pay")

# Wage-revision reminders (bot/reminders.py)
BUTTON_REMIND = _("🔔 Tell me when it changes")
BUTTON_REMIND_OFF = _("Stop the reminders")
REMIND_ON = _(
    "🔔 Done. When the minimum wage of {prefecture} changes, I will tell you the new rate and its date, "
    "and again on the day it starts. /remind off stops it."
)
REMIND_ON_UPCOMING = _("The next change is already known: {amount} an hour from {date}.")
REMIND_ZALO_WINDOW = _(
    "On Zalo I can only write to you if you wrote to me in the last 7 days. Send me a message now and then, "
    "above all from August to October, when the new rates come, or the reminder cannot reach you."
)
REMIND_WEB = _("On this chat page you will see it the next time you open the page.")
REMIND_OFF = _("The reminders are off. /remind turns them on again.")
REMIND_REVISION = _(
    "🔔 The minimum wage of {prefecture} changes: from {date} it is {amount} an hour (until then {old}). "
    "From that day, check that your pay per hour is not lower."
)
REMIND_REVISION_NEW = _(
    "🔔 The minimum wage of {prefecture} changes: from {date} it is {amount} an hour. "
    "From that day, check that your pay per hour is not lower."
)
REMIND_EFFECTIVE = _(
    "🔔 From today ({date}) your minimum wage in {prefecture} is {amount} an hour. Check your next payslip."
)
REMIND_EFFECTIVE_LATE = _(
    "🔔 Since {date} your minimum wage in {prefecture} is {amount} an hour. Check your next payslip."
)
