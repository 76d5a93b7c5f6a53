"""What the message classifier sees of a message: its features, as named strings.

Shared by the classifier (``classify.py``) and its training script (``talentq.dev.train_classifier``),
so that a model is always applied to exactly the features it was trained on. Three blocks:

- ``ngrams``: word unigrams and bigrams of the lowercased subject and the text the sender wrote
  now (the quoted thread is left out: an old offer quoted under a thank-you note is not an offer),
  subject words once more with their own prefix because a subject says more per word than a body.
  No character n-grams: on cross-validation over the development part, hashed character 3-5-grams
  (as a block of their own) did not beat words and cues, and cost several times the time;
- ``cues``: a hand-written multilingual lexicon (EN/DE/FR/ES/IT, some NL/PT) of what each category
  talks about, which carries across languages where the few examples per language do not;
- the scam screen, also in ``cues``: fees asked of the creator, crypto wallets, payment-provider
  phishing, follower selling, and a sender whose display name claims a brand its domain is not;
  and a few combinations a linear model cannot form itself (two scam signs at once, a look-alike
  sender that talks about money or a login, an award "selection" next to an amount).

Cue names read as reasons ("cue: invoice word", "scam: look-alike sender domain").
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from talentq.domain.addresses import is_free_mail, registrable_domain
from talentq.domain.mail.text import readable

#: Characters of subject and body read; the cues of a message are in its first screens.
SUBJECT_LIMIT: Final = 400
BODY_LIMIT: Final = 6000


@dataclass(frozen=True)
class Features:
    """A message's features: n-grams (binary) and cues (binary, named for reasons)."""

    ngrams: frozenset[str]
    cues: frozenset[str]


def _rx(pattern: str) -> re.Pattern[str]:
    """A pattern written in lowercase, for lowercased text: a message is lowercased once, which
    makes the lexicon's searches twice as fast as ``re.IGNORECASE``."""
    return re.compile(pattern)


# --- the lexicon ------------------------------------------------------------------------------
# Each cue is matched on the subject and the current text; a subject hit is a second feature
# ("... (subject)") because "Rechnung" in a subject decides more than in a sentence.
_LEXICON: Final[dict[str, re.Pattern[str]]] = {
    "invoice word": _rx(
        r"\b(?:invoices?|invoiced|rechnung\w*|factur\w*|fattur\w*|factuur|fatura|remittance|"
        r"quittung|reçu|recibo|ricevuta|receipt|nota fiscal|gutschrift|avoir|boleta|cfdi|"
        r"comprobante|statement|abrechnung|relevé|estado de cuenta|estratto conto|credit note|"
        r"self-?billing)\b"
    ),
    "payment word": _rx(
        r"\b(?:payment|paid|pay-?out|zahlung\w*|bezahlt|überweisung|paiement|payé|virement|"
        r"pago|pagado|transferencia|pagamento|pagato|bonifico|betaling|betaald|overboeking|"
        r"deposit sent|sent you|you'?ve received|received \S*\s?\d|transfer id|ach|wire|"
        r"remittance|net \d{1,2}|netto \d{1,2} tage|à \d{2} jours|a \d{2} días|a \d{2} giorni)\b"
    ),
    "due or overdue": _rx(
        r"\b(?:overdue|past due|due (?:date|on|by)|outstanding|reminder|überfällig|fällig\w*|"
        r"mahnung|zahlungserinnerung|offen(?:e|er) (?:betrag|posten)|échéance|en retard|relance|"
        r"impayée?|vencid[ao]|vencimiento|pendiente de pago|recordatorio|scadut[ao]|scadenza|"
        r"sollecito|herinnering|vervaldatum)\b"
    ),
    "tax on an amount": _rx(
        r"\b(?:vat|mwst|ust|tva|iva|btw|ht|ttc|brutto|netto|bruto|neto|lordo|retenci[oó]n|ritenuta|"
        r"withholding|quellensteuer|excl\.? vat|incl\.? vat|plus vat|\+ ?vat|zzgl|inkl)\b"
    ),
    "bank details": _rx(r"\b(?:iban|bic|swift|sort code|bankverbindung|coordonnées bancaires|rib)\b"),
    "purchase order": _rx(r"\b(?:purchase order|po number|po #|bestellnummer|bon de commande)\b"),
    "meeting word": _rx(
        r"\b(?:call|calls|meeting|meet|termin|termins|terminen|terminvorschl\w*|treffen|besprechung|telefonat|rendez-vous|réunion|"
        r"appel|visio|llamada|reunión|cita|videollamada|chiamata|riunione|appuntamento|"
        r"videochiamata|afspraak|vergadering|reunião|zoom|google meet|teams)\b"
    ),
    "reschedule": _rx(
        r"\b(?:reschedul\w*|postpone|move (?:the|our)|push (?:the|our)|verschieb\w*|verleg\w*|"
        r"reporter|décaler|reprogramar|aplazar|cambiar la fecha|spostare|rinviare|posticipare|"
        r"verzetten|mover|moverlo|spostar\w*|cambio de (?:horario|fecha|hora)|changement d'horaire|"
        r"instead of|statt|en vez de|en lugar de|invece di|au lieu de|new time|neue uhrzeit|"
        r"nouvel horaire|nuevo horario|nuovo orario)\b"
    ),
    "availability": _rx(
        r"\b(?:availab\w*|free (?:on|at)|does .{1,20} work|works for you|suit you|verfügbar|"
        r"zeit (?:am|hast|haben)|passt (?:es|dir|ihnen)|disponib\w*|dispon[ií]ble|libre|"
        r"ti va bene|le va bene|beschikbaar|slots?|time slots?|créneaux?|zeitfenster|"
        r"franjas?|fasce orarie|horarios?|orari|date possibili|fechas posibles|dates possibles|"
        r"mögliche termine|which (?:one|day|time|date) (?:works|suits)|quale preferisce|"
        r"cuál (?:le|te) (?:va|viene)|lequel vous convient|welcher .{0,10}passt|quando|wann|quand|"
        r"cuándo|when (?:would|could|can|is)|options? for)\b"
    ),
    "time of day": _rx(
        r"\b(?:\d{1,2}[:.h]\d{2}|\d{1,2} ?(?:am|pm|uhr|h))\b|"
        r"\b(?:alle|a las|à|um|at) \d{1,2}\b|\b(?:noon|midday|mittag|midi|mediodía|mezzogiorno|"
        r"mattina|pomeriggio|morning|afternoon|vormittag|nachmittag|matin|après-midi|tarde)\b"
    ),
    "weekday": _rx(
        r"\b(?:monday|tuesday|wednesday|thursday|friday|montag|dienstag|mittwoch|donnerstag|freitag|"
        r"lundi|mardi|mercredi|jeudi|vendredi|lunes|martes|miércoles|jueves|viernes|lunedì|"
        r"martedì|mercoledì|giovedì|venerdì|tomorrow|morgen|demain|mañana|domani|"
        r"segunda-feira|terça-feira|quarta-feira|quinta-feira|sexta-feira)\b"
    ),
    "calendar date": _rx(
        r"\b\d{1,2}\.? (?:de )?(?:jan\w*|feb\w*|mar\w*|apr\w*|may|mai|mayo|maggio|jun\w*|jui\w*|"
        r"giu\w*|jul\w*|lug\w*|aug\w*|ago\w*|ao[uû]t|sep\w*|set\w*|oct\w*|okt\w*|ott\w*|nov\w*|"
        r"dec\w*|dez\w*|déc\w*|dic\w*|avril|abril|aprile|mars|marzo|märz|janvier|enero|gennaio|"
        r"février|febrero|febbraio)\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w* \d{1,2}\b"
    ),
    "shoot or event date": _rx(
        r"\b(?:shoot|shooting|drehtag|dreh|tournage|rodaje|riprese|set day|call sheet|fitting|"
        r"location|event|veranstaltung|événement|evento)\b"
    ),
    "draft or edit": _rx(
        r"\b(?:drafts?|entwurf|entwürfe|brouillon|borrador|bozza|bozze|concept|rough cut|"
        r"first cut|edit|schnitt|montage|v\d|version)\b"
    ),
    "feedback or revision": _rx(
        r"\b(?:feedback|revision\w*|changes|tweaks?|korrektur\w*|änderung\w*|anpassung\w*|"
        r"retours?|modifications?|cambios|correcciones|revisión|modifiche|revisione|correzioni|"
        r"aanpassingen|fix|fixed|correct\w*|corrig\w*|korrigier\w*|corregir|correggere|"
        r"broken|not working|404|lien cassé|liens? (?:cassés?|morts?)|enlace roto|link rotto|"
        r"funktioniert nicht|no funciona|non funziona|ne fonctionne pas|missing|fehlt|manque|"
        r"falta|manca|reshare|repost|re-?upload|pin(?:ned|ning)?|overlay|légende)\b"
    ),
    "approval": _rx(
        r"\b(?:approv\w*|sign-?off|freigabe|freigegeben|abgenommen|validation|validé|valider|"
        r"aprobad[ao]|aprobación|approvat[ao]|approvazione|goedgekeurd)\b"
    ),
    "go-live or posting": _rx(
        r"\b(?:go-?live|goes live|went live|live date|posting date|publish\w*|posted|"
        r"veröffentlich\w*|online gehen|publication|publié|mise en ligne|publicación|publicad[ao]|"
        r"pubblicazione|pubblicat[ao]|caption|hashtag|tag|tagged|link in bio|swipe-?up|"
        r"usage rights|whitelisting|insights|analytics|screenshots?|stats|publi[ée]\w*|"
        r"en ligne|went out|is live|ist online|è online|está en línea|performing|performed|"
        r"performou|numbers|views|reach|reichweite|portée|alcance|copertura|"
        r"paid (?:ad|ads|media|usage)|ads?|anúnci\w*|anuncios?|annonces?|werbeanzeige\w*|"
        r"spark ads?|boost\w*|impulsion\w*|impulsar|usage period|nutzungsrecht\w*|nutzung|"
        r"droits d'utilisation|derechos de uso|diritti d'uso|direitos de uso|partnership ad|"
        r"droits (?:publicitaires|d'exploitation)|bio|link in (?:bio|profile|description)|"
        r"description|beschreibung|descripción|descrizione|legenda|didascalia)\b"
    ),
    "fee word": _rx(
        r"\b(?:fee|fees|budget|rate|honorar|gage|vergütung|tarif|rémunération|rémunéré|cachet|"
        r"presupuesto|honorarios|remuneración|tarifa|compenso|retribuit[ao]|cachet|vergoeding|"
        r"orçamento|cachê)\b"
    ),
    "collaboration word": _rx(
        r"\b(?:collab\w*|kooperation\w*|zusammenarbeit|partnership|partenariat|colaboración|"
        r"collaborazione|samenwerking|parceria|sponsor\w*|gesponsert|campaign|kampagne|campagne|"
        r"campaña|campagna|ambassador\w*|botschafter\w*|ambassadrice|embajador\w*|auspici\w*|"
        r"patrocin\w*)\b"
    ),
    "proposal word": _rx(
        r"\b(?:propos\w*|offer\w*|angebot|anfrage|brief|briefing|counter|gegenangebot|"
        r"contre-proposition|propuesta|contraoferta|proposta|controproposta|voorstel|aanbod|"
        r"ofrec\w*|oferta|offriamo|offrons|bieten|come up to|can do|"
        r"would love to (?:work|partner|have)|interested in working|looking for creators)\b"
    ),
    "content asked": _rx(
        r"\b\d+\s?x?\s?(?:reels?|stor(?:y|ies)|posts?|tiktoks?|videos?|shorts?|streams?|pins?|"
        r"beiträge|publications?|vídeos?|historias|storie|contenuti|integrations?|episod\w*|"
        r"folgen|épisodes?|pins?|épingles?)\b|"
        r"\b(?:one|two|three|four|five|ein|eine|zwei|drei|un|une|deux|trois|dos|tres|uno|due|tre)\s"
        r"(?:instagram |ig |tiktok |youtube )?(?:reels?|stor(?:y|ies)|posts?|tiktoks?|videos?)\b"
    ),
    "platform": _rx(r"\b(?:instagram|ig|tiktok|youtube|twitch|podcast|reels?|stories|shorts)\b"),
    "gifted or commission": _rx(
        r"\b(?:gifted|gifting|product seeding|seeding|affiliate|commission|provision|kostenlos|"
        r"produit offert|regalo|omaggio|gratis)\b"
    ),
    "newsletter": _rx(
        r"\b(?:newsletter|unsubscribe|abmelden|abbestellen|se désinscrire|désabonner|darse de baja|"
        r"cancelar suscripción|disiscriviti|annulla iscrizione|uitschrijven|digest|roundup|"
        r"this week in|weekly (?:digest|roundup|newsletter|update)|ausgabe|edición|edizione|"
        r"der woche|of the week|this month in|view (?:it )?in (?:your )?browser|click here|"
        r"you(?:'re| are) receiving this|sie erhalten diesen|vous recevez ce|recibes este|"
        r"ricevi questa|abonnent\w*|subscribers? of|"
        r"de la semaine|de la semana|della settimana|wer mit wem)\b"
    ),
    "third-party deal": _rx(
        r"\b(?:announced|signed (?:a|with)|landed|inked|partnered with|teams up|unveil\w*|"
        r"reported|according to|industry news|branchen\w*|a signé|ha firmado|ha firmato|"
        r"reporter|journalist|press enquiry|press inquiry|presseanfrage|demande presse|"
        r"consulta de prensa|richiesta stampa|deals? (?:of the week|der woche|de la semaine)|"
        r"rates from|creator-submitted|submit your own|wer mit wem)\b"
    ),
    "internal memo": _rx(
        r"\b(?:internal|intern|interne|interno|team update|all-?hands|memo|reminder to the team|"
        r"hey all|hi all|hi team|hey team|hallo team|hallo zusammen|hello l'équipe|hola equipo|"
        r"ciao a tutti|everyone|pipeline|compte rendu|cr réunion|meeting minutes|protokoll|verbale|"
        r"recap|wrap-?up|hubspot|crm|notion|slack|ops|payroll|timesheet|urlaub|vacances|"
        r"vacaciones|ferie|out of (?:the )?office|abwesen\w*|absente?|ausente|assente|"
        r"automatic reply|auto-?reply|automatische antwort|réponse automatique|"
        r"respuesta automática|risposta automatica)\b"
    ),
    "thank you": _rx(
        r"\b(?:thank you|thanks so much|grateful|danke|vielen dank|merci|gracias|grazie|bedankt|"
        r"obrigad[ao])\b"
    ),
    "job application": _rx(
        r"\b(?:job application|my application|application for|apply|applying|cv|resume|résumé|"
        r"portfolio|showreel|internship|freelance|considered for|open positions?|hiring|bewerbung|"
        r"lebenslauf|praktikum|candidature|stage|candidatura|curriculum|tirocinio|sollicitatie)\b"
    ),
    "platform notification": _rx(
        r"\b(?:notification|no-?reply|security alert|new login|password|passwort|mot de passe|"
        r"contraseña|verification code|your account)\b"
    ),
    "amount": _rx(
        r"(?:[$€£¥]|\b(?:usd|eur|gbp|chf|sek|nok|dkk)\b)\s?\d[\d.,' ]*|\d[\d.,' ]*\s?(?:[$€£]|"
        r"\b(?:usd|eur|gbp|chf|euros?|dollars?)\b)"
    ),
}

# --- the scam screen --------------------------------------------------------------------------
_SCAM: Final[dict[str, re.Pattern[str]]] = {
    "fee asked of the creator": _rx(
        r"\b(?:registration|onboarding|activation|processing|listing|membership|enrol?lment|"
        r"participation|handling|admin(?:istration)?|verification|application|entry|nomination|"
        r"production|feature|publication|editorial|shipping|starter ?kit|deposit)\s(?:fee|cost|charge)|"
        r"\bpay (?:a|the|only|just)?\s?(?:small |one-time |refundable |symbolic )?(?:fee|deposit)|"
        r"\b(?:gebühr|anmeldegebühr|teilnahmegebühr|bearbeitungsgebühr|schutzgebühr|kaution|"
        r"unkostenbeitrag|eigenanteil)\b|"
        r"\bfrais (?:d'inscription|de dossier|d'activation|de participation|de traitement|de port)|"
        r"\bcaution\b|\b(?:cuota|tasa|tarifa) (?:de )?(?:inscripción|registro|participación|gestión)|"
        r"\bgastos de (?:envío|gestión)|\b(?:quota|tassa|contributo) (?:di )?(?:iscrizione|"
        r"partecipazione|attivazione|gestione)|\bspese di (?:spedizione|gestione)|"
        r"\binschrijfkosten|\btaxa de (?:inscrição|adesão)|"
        r"\byou (?:just |only )?(?:cover|pay) (?:the )?(?:products|shipping|costs?|fee)|"
        r"\bcover (?:the )?(?:shipping|products|costs)|\bpayment link|kostenbeitrag|\berheben wir|"
        r"\bnach zahlungseingang|\babonar|\benlace de pago|\bpagar (?:los|el|la) (?:gastos|importe|cuota)|"
        r"\b(?:payer|régler) (?:les |des )?frais|\bparticipation aux frais|\blien de paiement|"
        r"\b(?:pagare|versare) (?:una |la )?(?:quota|somma)|\blink di pagamento|"
        # paid up front for something the "offer" needs: a photo book, an order placed first
        r"\bpayables? (?:à l'avance|d'avance|in advance)|\bpaid in advance|"
        r"\bim voraus (?:zu )?(?:zahlen|bezahlt)|"
        r"\bpor adelantado|\bin anticipo|\b(?:places?|place an|make an) order\b.{0,40}\bfirst|"
        r"\b(?:musst|müssen) (?:du|sie) (?:nur )?eine bestellung|\bbestellung ab \d|\bcommande minimum|"
        r"\bhaz (?:un|tu) pedido|\beffettua(?:re)? un ordine"
    ),
    "discount code to buy": _rx(
        r"\b(?:buy|purchase|order|kaufen|bestell\w*|acheter|commander|comprar|acquist\w*|"
        r"compra)\b.{0,60}\b(?:discount|rabatt|réduction|descuento|sconto|\d{2} ?%)"
    ),
    "crypto wallet": _rx(
        r"\b(?:wallet|seed phrase|recovery phrase|private key|metamask|trust wallet|phantom|"
        r"usdt|usdc|airdrop|on-?chain|web3|nft|nfts|bitcoin|btc|eth|ethereum|solana|"
        r"krypto\w*|crypto\w*|cripto\w*|whitelist\w*|mint\w*|token|tokens)\b|\b0x[0-9a-f]{6,}|"
        r"\$[a-z]{3,6}\b"
    ),
    "account or payout on hold": _rx(
        r"\b(?:verify your (?:account|identity|details)|confirm your (?:identity|details|account|bank)|"
        r"account (?:has been |was |is )?(?:suspended|limited|locked|restricted|on hold)|"
        r"(?:payment|payout|transfer)\b.{0,25}\b(?:on hold|paused|held|blocked|failed|frozen|suspended)|"
        r"unusual activity|konto (?:wurde )?(?:gesperrt|eingeschränkt)|eingeschränkt|angehalten|"
        r"blockiert|bestätigen sie|compte (?:a été |est )?(?:suspendu|limité|bloqué)|"
        r"temporairement limité|suspendu|bloqué|en attente|cuenta (?:suspendida|bloqueada|limitada)|"
        r"retenid[ao]|bloquead[ao]|verificación obligatoria|bloccat[ao]|sospes[ao]|in sospeso|"
        r"verifica (?:il tuo|richiesta)|in de wacht|geblokkeerd|update (?:your )?bank details)\b|"
        r"\b(?:log ?in|sign ?in|connectez-vous|anmelden|inicia sesión|accedi)\b.{0,60}"
        r"\b(?:password|passwort|mot de passe|contraseña)|"
        r"\b(?:confirm|update|re-?enter|bestätigen|confirmer|confirmez|mettre à jour|actualizar|"
        r"confirmar|aggiornare|confermare)\b.{0,40}\b(?:bank\w*|iban|identity|identität|identité|"
        r"identidad|identità|bancair\w*|bancari\w*)"
    ),
    "urgency": _rx(
        r"\b(?:within (?:24|48|72) ?(?:h|hours)|in 24 ?h|24 stunden|48 stunden|24 heures|48 heures|"
        r"24 horas|48 horas|24 ore|48 ore|immediately|sofort|immédiatement|inmediatamente|"
        r"immediatamente|slots are limited|limited spots|only \d+ (?:spots|places)|act now|"
        r"action required|handlung erforderlich|action requise|acción requerida|azione richiesta|"
        r"plazas (?:son )?limitadas|places (?:sont )?limitées|posti limitati|begrenzte plätze|"
        r"limited (?:places|slots|spots)|nur noch \d+ plätze|vagas limitadas)\b"
    ),
    "selected or nominated": _rx(
        r"\b(?:you(?:'ve| have)? been (?:selected|chosen|nominated)|you're selected|"
        r"(?:was|were|has been|is) (?:selected|nominated|shortlisted)|congratulations|"
        r"ausgewählt|glückwunsch|nominiert|sélectionnée?|présélectionnée?|félicitations|"
        r"seleccionad[ao]|nominad[ao]|felicidades|enhorabuena|selezionat[ao]|nominat[ao]|"
        r"congratulazioni|geselecteerd|gefeliciteerd|selecionad[ao]|parabéns)\b"
    ),
    "fee refunded later": _rx(
        r"\b(?:refundable|refunded|will be refunded|reimbursed|rembours\w*|rückerstatt\w*|"
        r"zurückerstattet|erstattet|reembols\w*|rimbors\w*|reembolsad[ao]|terugbetaald)\b"
    ),
    # Not "pay" in a link: a real invoice may link to its payment page.
    "login link": _rx(
        r"https?://\S*(?:login|log-in|signin|sign-in|verify|verif|secure|portal|update|confirm)"
    ),
    "pay to be featured": _rx(
        r"\b(?:magazine?|magazin|rivista|revista|revue|cover|titelseite|couverture|portada|"
        r"copertina|featured (?:in|on|as)|be featured|interview|entrevista|intervista|"
        r"porträt\w*|special issue|"
        r"numéro spécial|edición especial|numero speciale|sonderausgabe|award|nominat\w*|"
        r"nominier\w*|preis|prix|premio|ranking|top \d+|directory|verzeichnis|annuaire)\b"
        r"(?s:.{0,300})(?:\b(?:fee|cost|frais|cuota|costo|quota|tarifa|contribution|contributo|"
        r"contribución|à régler|to be paid|zu zahlen|da versare|a pagar)|"
        r"\w*(?:kosten|kostenbeitrag|gebühr))\b"
    ),
    "follower or traffic selling": _rx(
        r"\b(?:\d[\d.,]*k?\s?(?:real |echte |réels |reales |reali )?(?:followers?|follower|abonnés|"
        r"seguidores|seguaci|subscribers|likes|views)|(?:buy|kaufen|acheter|comprar|comprare)\b.{0,30}"
        r"\b(?:followers?|abonnés|seguidores|seguaci|likes|views)|(?:real|echte|réels|reales|reali|"
        r"reais) (?:followers?|follower|abonnés|seguidores|seguaci|seguidores)|seo|backlinks?|"
        r"rank #?1|watch hours|engagement boost|grow your (?:account|audience|followers)|"
        r"(?:first|1st) page (?:of|on) google|erste seite (?:bei|von) google|première page (?:de|sur) google|"
        r"primera página de google|prima pagina (?:di|su) google|\d+[- ]star reviews|reseñas de 5 estrellas|"
        r"avis 5 étoiles|5-sterne-bewertungen|recensioni a 5 stelle|"
        r"verified (?:brand )?(?:marketing )?contacts|email list|leads database)\b|"
        r"\b\d[\d.,]*k?\s(?:\w+\s)?(?:followers|subscribers|views|likes|abonnés|seguidores|seguaci)\b"
        r".{0,40}[$€£]|\brefill\b"
    ),
}

# Payment providers, banks and platforms a phishing mail pretends to be: name -> real domains.
_BRANDS: Final[dict[str, tuple[str, ...]]] = {
    "paypal": ("paypal.com", "paypal.de", "paypal.fr", "paypal.es", "paypal.it", "paypal.co.uk"),
    "stripe": ("stripe.com",),
    "wise": ("wise.com", "transferwise.com"),
    "docusign": ("docusign.com", "docusign.net"),
    "instagram": ("instagram.com", "facebookmail.com", "meta.com"),
    "meta": ("meta.com", "facebookmail.com", "fb.com", "facebook.com"),
    "facebook": ("facebook.com", "facebookmail.com", "fb.com"),
    "tiktok": ("tiktok.com", "bytedance.com"),
    "youtube": ("youtube.com", "google.com"),
    "google": ("google.com",),
    "payoneer": ("payoneer.com",),
    "revolut": ("revolut.com",),
    "binance": ("binance.com",),
    "ledger": ("ledger.com",),
    "postfinance": ("postfinance.ch",),
    "sparkasse": ("sparkasse.de",),
    "bbva": ("bbva.com", "bbva.es"),
    "apple": ("apple.com",),
    "amazon": ("amazon.com", "amazon.de"),
    "shopify": ("shopify.com",),
    "klarna": ("klarna.com",),
    "adyen": ("adyen.com",),
}
# Words a phishing domain dresses itself in.
_SECURITY_WORDS: Final = _rx(
    r"secur|verif|login|support|sicherheit|securite|seguridad|assistenza|kontopruef|auszahlung|"
    r"payout|notification|clienti|clientes|service"
)
# A talent agency's own domain: mail from one to the inbox is usually internal or its client's.
_AGENCY: Final = _rx(r"talent|agency|agentur|agence|agencia|agenzia|management|mgmt")
# Digits and letters a look-alike domain swaps in ("paypa1", "str1pe", "skln").
_HOMOGLYPHS: Final = str.maketrans({"1": "l", "0": "o", "3": "e", "5": "s", "4": "a"})
_WORD: Final = re.compile(r"[^\W_]+", re.UNICODE)
_DIGITS: Final = re.compile(r"\d")
_SENDER: Final = re.compile(r"^\s*\"?(?P<name>[^<\"]*)\"?\s*<?(?P<address>[^<>\s]*@[^<>\s]+?)>?\s*$")


def _fold(text: str) -> str:
    """Lowercased, accents kept (they tell languages apart), digits as 0 (an amount's shape,
    not its value, is what generalises)."""
    return _DIGITS.sub("0", text.lower())


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def sender_cues(sender: str) -> set[str]:
    """The scam screen's reading of a From header: look-alike domains, free mail claiming a
    company, security words in a domain."""
    cues: set[str] = set()
    match = _SENDER.match(sender)
    if not match:
        return cues
    name = _ascii(match.group("name"))
    domain = match.group("address").rsplit("@", 1)[-1].lower().strip(".")
    if is_free_mail(domain):
        cues.add("sender: free mail address")
    labels = domain.split(".")
    # The label before the public suffix ("paypa1-secure" of paypa1-secure.com).
    stem = registrable_domain(domain).split(".")[0]
    flat = stem.replace("-", "")
    name_words = [w for w in _WORD.findall(name) if len(w) >= 4 or w in _BRANDS]
    swapped = flat.translate(_HOMOGLYPHS)
    stem_words = set(stem.translate(_HOMOGLYPHS).split("-"))
    for brand, real in _BRANDS.items():
        # The brand as a word of the display name or of the domain, or the domain's start
        # ("pay-pal-secure"); not anywhere inside a word ("metayield" is not Meta).
        rest = swapped.removeprefix(brand)
        claims = (
            brand in name_words
            or brand in stem_words
            # "paypa1secure", "pay-pal-support", not "ledgerly" (a word of its own).
            or (rest != swapped and ("-" in stem or _SECURITY_WORDS.search(rest) is not None))
        )
        if claims and not any(domain == r or domain.endswith("." + r) for r in real):
            cues.add("scam: sender claims a brand its domain is not")
            break
    for word in name_words:
        # The display name's own word spelled with swapped letters in the domain ("lumiere-skln").
        if word not in flat and (word in swapped or word in swapped.replace("l", "i")):
            cues.add("scam: look-alike sender domain")
    if flat != swapped and any(brand in swapped for brand in _BRANDS):
        cues.add("scam: look-alike sender domain")
    if _SECURITY_WORDS.search(stem) and "-" in stem:
        cues.add("sender: security words in the domain")
    if any(domain == r or domain.endswith("." + r) for real in _BRANDS.values() for r in real):
        cues.add("sender: a platform's or provider's own domain")
    if _AGENCY.search(stem):
        cues.add("sender: a talent agency's domain")
    local = match.group("address").rsplit("@", 1)[0].lower()
    if _AUTOMATED.match(local):
        cues.add("sender: an automated mailbox")  # notifications, security alerts: no person asks
    if _NEWSLETTER_BOX.match(local):
        cues.add("sender: a newsletter's mailbox")
    if labels[-1] in {"io", "xyz", "biz", "shop", "info", "top", "click"}:
        cues.add(f"sender: .{labels[-1]} domain")
    return cues


#: The local part of a mailbox no person writes from ("no-reply", "notifications", "seguridad").
_AUTOMATED: Final = re.compile(
    r"(?:no-?reply|do-?not-?reply|notifications?|notifiche|notificaciones|benachrichtigung\w*|alerts?|"
    r"security|seguridad|sicurezza|securite|mailer|system|automated)\b"
)
#: The local part of a newsletter's mailbox ("newsletter@", "lettre@", "digest@").
_NEWSLETTER_BOX: Final = re.compile(
    r"(?:newsletters?|news|digest|lettre|infolettre|brief|weekly|updates?|bolet[ií]n|bollettino|nieuwsbrief)\b"
)
#: An issue number in a subject ("#214", "N°142", "Ausgabe 12", "Issue 7"): a newsletter's.
_ISSUE: Final = re.compile(
    r"(?:^|\s)(?:#|n[°º]\s?|nr\.?\s|issue\s|ausgabe\s|numéro\s|número\s)\d{1,4}\b", re.IGNORECASE
)
#: Time zones, in capitals only (French "est" is "is").
_TIME_ZONE: Final = re.compile(r"\b(?:CET|CEST|GMT|BST|EST|PST)\b")
_AMOUNT: Final = _LEXICON["amount"]
# "application" alone is also an app ("depuis son application"): read as a job one in a subject.
_APPLICATION: Final = _rx(r"\b(?:application|bewerbung|candidature|candidatura|solicitud)\b")
_MONEY_OR_LOGIN: Final = frozenset(
    f"{kind}: {name}"
    for kind, name in (
        ("cue", "invoice word"),
        ("cue", "payment word"),
        ("cue", "bank details"),
        ("cue", "platform notification"),
        ("scam", "account or payout on hold"),
        ("scam", "fee asked of the creator"),
    )
)


def _combinations(cues: set[str], current: str) -> set[str]:
    """Cues that only mean something together: a linear model cannot AND two features."""
    out: set[str] = set()
    plain = {c.removesuffix(" (subject)") for c in cues}
    scam = {c for c in cues if c.startswith("scam:")}
    if len(scam) >= 2:
        out.add("scam: two or more scam signs")
    if len(scam) >= 3:
        out.add("scam: three or more scam signs")
    if plain & {"scam: look-alike sender domain", "scam: sender claims a brand its domain is not"} and (
        plain & _MONEY_OR_LOGIN
    ):
        out.add("scam: look-alike sender asks about money or a login")
    if "scam: selected or nominated" in plain and plain & {"cue: amount", "cue: payment word"}:
        out.add("scam: selected, and money is mentioned")
    if "scam: follower or traffic selling" in plain and "cue: amount" in plain:
        out.add("scam: followers or views for a price")
    amounts = len(_AMOUNT.findall(current))
    if amounts >= 3:
        out.add("cue: three or more amounts")
    return out


_LONG_DIGITS: Final = re.compile(r"\d{13,}")


def _first_digits(run: re.Match[str]) -> str:
    return run.group(0)[:12]


def features(subject: str, body: str, sender: str = "") -> Features:
    """Every feature of a message, as the model names them."""
    # Digit runs longer than any amount, date or phone number are cut to 12 digits: they mean
    # nothing more, and a hostile megabyte of digits must not make the patterns below crawl.
    subject = _LONG_DIGITS.sub(_first_digits, subject[:SUBJECT_LIMIT])
    current = _LONG_DIGITS.sub(_first_digits, readable(body[:BODY_LIMIT]).current)
    lower_subject, lower_current = subject.lower(), current.lower()
    cues: set[str] = set()
    for name, pattern in _LEXICON.items():
        if pattern.search(lower_current):
            cues.add(f"cue: {name}")
        if pattern.search(lower_subject):
            cues.add(f"cue: {name} (subject)")
    if _TIME_ZONE.search(current):
        cues.add("cue: time of day")
    if _TIME_ZONE.search(subject):
        cues.add("cue: time of day (subject)")
    for name, pattern in _SCAM.items():
        if pattern.search(lower_subject) or pattern.search(lower_current):
            cues.add(f"scam: {name}")
    cues |= sender_cues(sender)
    cues |= _combinations(cues, lower_current)
    if _ISSUE.search(subject):
        cues.add("cue: newsletter issue (subject)")
    if _APPLICATION.search(lower_subject):
        cues.add("cue: job application (subject)")
    if subject.lower().startswith(("re:", "aw:", "r:", "rv:", "sv:")):
        cues.add("cue: a reply")

    ngrams: set[str] = set()
    subject_words = _WORD.findall(_fold(subject))
    body_words = _WORD.findall(_fold(current))
    ngrams.update(f"s:{w}" for w in subject_words)
    for words in (subject_words, body_words):
        ngrams.update(f"w:{w}" for w in words)
        ngrams.update(f"b:{a} {b}" for a, b in itertools.pairwise(words))
    return Features(frozenset(ngrams), frozenset(cues))
