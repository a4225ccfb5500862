package spamrun

import "bytes"

// More of the vocabulary: the kinds of spam that abused forms and uploaded
// mailers send beyond pills, casinos and loans (extortion, dating, prize
// and gift-card scams, advance-fee fraud, parcel fees), and every category
// in Italian, Portuguese, Polish, Turkish, Ukrainian, Arabic, Chinese,
// Japanese and Korean. Chinese, Japanese and Korean terms are found inside
// the text's runs of characters (see matchWide), since those languages do
// not separate words with spaces, or attach particles to them.

var lexiconKinds = []termGroup{
	// Sextortion and other extortion: the story, the threat, the payment.
	{catExtortion, 1.5, "recorded you|i recorded|your webcam|your camera recorded|hacked your device|hacked your computer|access to your device|installed a trojan|installed malware|remote access trojan|video of you|compromising video|intimate video|send the video|to all your contacts|all your contacts|adult websites|porn sites|pay in bitcoin|bitcoin wallet|bitcoin address|my btc wallet|you have 48 hours|delete the video|pixel in this message"},
	{catExtortion, 0.4, "i know your password|spyware|keylogger|masturbat*|embarrassing|humiliat*|your reputation|family and colleagues|police will not help|no one can trace|untraceable"},
	{catExtortion, 1.5, "je webcam|jouw webcam|video van jou|al je contacten|je contacten|deine webcam|video von dir|alle deine kontakte|an alle kontakte|votre webcam|vidéo de vous|tous vos contacts|tu cámara web|video tuyo|todos tus contactos|la tua webcam|video di te|tutti i tuoi contatti|sua webcam|vídeo seu|todos os seus contatos|twoja kamera|nagrałem cię|wszystkich twoich kontaktów|web kameran|videonu tüm|tüm kişilerine|вашу веб камеру|ваше видео|всем вашим контактам|вашим контактам|вашу камеру|вашої веб камери|всім вашим контактам|ваше відео"},
	{catExtortion, 0.8, "биткоин кошелек|біткоїн гаманець|portefeuille bitcoin|cartera bitcoin|billetera bitcoin|portafoglio bitcoin|carteira bitcoin|portfel bitcoin|bitcoin cüzdanı|48 stunden|48 heures|48 horas|48 ore|48 godzin|48 saat|48 часов|48 годин"},

	// Dating and adult contact spam.
	{catDating, 1.2, "lonely women|lonely girls|single women near you|women near you|girls near you|looking for a man|looking for sex|meet tonight|hot girls|sexy girls|my photos|my private photos|private photos|see my photos|dating site|chat with me|i am lonely|eenzame vrouwen|vrouwen in de buurt|einsame frauen|frauen in deiner nähe|femmes seules|mujeres solteras|chicas cerca|donne sole|ragazze vicino|mulheres solteiras|garotas perto|samotne kobiety|kobiety w okolicy|yalnız kadınlar|yakınındaki kadınlar|одинокие девушки|девушки рядом|знакомства для секса|хочу познакомиться|самотні дівчата|дівчата поруч"},
	{catDating, 0.4, "dating|singles|date tonight|meet me tonight|randki|flört|знакомства|знакомств|знайомства"},

	// Prize, lottery, survey and gift-card scams.
	{catPrize, 1.5, "claim your reward|claim your gift|you have been chosen|you were selected|you ve been selected|congratulations you won|lucky winner|winning notification|lottery winner|gift card reward|free iphone|free gift card|amazon gift card|walmart gift card|apple gift card|steam gift card|google play gift card|complete the survey|short survey|loyalty reward|shipping fee only|uw prijs|prijs claimen|gewinn abholen|ihr gewinn|gewinnbenachrichtigung|réclamez votre|votre cadeau|bon d achat gratuit|reclame su premio|su premio|tarjeta regalo gratis|il tuo premio|reclama il tuo|buono regalo gratuito|seu prêmio|resgate seu|cartão presente grátis|twoja nagroda|odbierz nagrodę|karta podarunkowa|ödülünüzü alın|hediye kartı|kazandınız|ваш приз|получите приз|подарочная карта|ваш выигрыш|ваш приз чекає|отримайте приз"},
	{catPrize, 0.3, "winner|prize|lottery|sweepstakes|gewonnen|gewinn|gagnant|ganador|premio|vincitore|prêmio|ganhador|nagroda|zwycięzca|ödül|çekiliş|приз|выигрыш|победитель|лотере*|виграш|переможець"},

	// Advance-fee fraud: inheritance, next of kin, business proposals.
	{catAdvanceFee, 1.5, "next of kin|late client|deceased client|consignment box|diplomatic courier|unclaimed funds|unclaimed inheritance|transfer of the funds|united states dollars|million usd|usd 10 5 million|barrister|beneficiary of|inheritance fund|compensation fund|atm card|western union|moneygram|strictly confidential|business proposal|proposal for you"},
	{catAdvanceFee, 0.6, "erfenis|nachlass|héritage|herencia|eredità|herança|spadek|miras|наследств*|спадщин*"},
	{catAdvanceFee, 0.3, "inheritance|beneficiary|funds transfer|foreign partner|percentage of the fund|legal documents|my late husband|widow|orphanage|humanitarian|charity work|god bless you|bank manager|central bank|treasury|fiduciary"},

	// Replica goods: fake watches, bags and shoes. Brand names alone are
	// what a real jeweller's newsletter says too.
	{catReplica, 1.5, "replica|replicas|replica watches|replica bags|replika|repliken|replikas|réplique|répliques|réplica|réplicas|replik|реплика|реплики|копии часов|копия часов|swiss replica|1 1 quality|aaa quality|super clone|fake watches|designer replicas|high quality copies|луксозни реплики"},
	{catReplica, 0.3, "rolex|omega|breitling|hublot|cartier|patek philippe|audemars piguet|tag heuer|louis vuitton|hermès|gucci|prada|chanel|dior|moncler|yeezy|balenciaga"},

	// Dating: the lonely neighbour and her private photos, in more words.
	{catDating, 1.0, "private pictures|private bilder|private fotos|photos privées|fotos privadas|foto private|fotos íntimas|zdjęcia prywatne|özel fotoğraflar|приватные фото|приватні фото|bin seit kurzem single|suche keine feste beziehung|anmeldung ist kostenlos|inscription gratuite|inscription est gratuite|registro es gratis|registrazione è gratuita|cadastro é grátis|rejestracja jest darmowa|kayıt ücretsiz|регистрация бесплатная|реєстрація безкоштовна|only registered members|registration is free|live near you|lives near you|aus deiner gegend|près de chez toi|cerca de ti|vicino a te|perto de você|w twojej okolicy|senin bölgende|из твоего города|з твого міста"},

	// Advance-fee and charity bequest stories.
	{catAdvanceFee, 1.0, "hospital bed|terminal cancer|terminally ill|orphans|bequeath|my late husband left|lit d hôpital|phase terminale|œuvres de bienfaisance|orphelins|léguer|krankenbett|unheilbar krank|waisenkinder|wohltätige zwecke|cama de hospital|enfermedad terminal|huérfanos|obras de caridad|letto d ospedale|malato terminale|orfani|opere di carità|leito de hospital|doença terminal|órfãos|obras de caridade|ziekenhuisbed|terminaal ziek|weeskinderen|łóżko szpitalne|sieroty|hastane yatağı|yetimler|больничной койки|сирот|сиріт|الأيتام|سرير المستشفى"},
	{catAdvanceFee, 0.3, "veuve|viuda|vedova|viúva|wdowa|weduwe|witwe|dul|вдова|удова|notaire|notary|abogado|avvocato|advogado"},

	// Parcel fees, customs and redelivery: phishing, counted with a link.
	{catPhish, 0.7, "could not be delivered|could not deliver your|derechos de aduana|programar entrega|droits de douane|frais d envoi|nicht zugestellt werden|konnte nicht zugestellt|kon niet worden bezorgd|niet bezorgd worden|non è stato consegnato|não foi possível entregar|nie mogła zostać doręczona|nie została doręczona|teslim edilemedi|не удалось доставить|не вдалося доставити|لم نتمكن من توصيل|无法投递|無法投遞|配達できませんでした|배송할 수 없"},
	{catPhish, 1.2, "customs fee|customs duty|redelivery fee|delivery fee of|unpaid shipping|shipping fee unpaid|package is on hold|parcel is on hold|your package could not|schedule redelivery|reschedule delivery|zoll gebühr|zollgebühren|pakket in de wacht|inklaringskosten|frais de douane|frais de livraison impayés|gastos de aduana|tasas de aduana|spese di spedizione|sdoganamento|taxa alfandegária|taxa de entrega|opłata celna|dopłata do przesyłki|gümrük vergisi|gümrük ücreti|таможенн*|оплатите доставку|митний збір|митн*"},
}

var lexiconLanguages = []termGroup{
	// Italian.
	{catPharma, 1.0, "senza ricetta|farmacia online senza|pillole dimagranti|disfunzione erettile"},
	{catPharma, 0.5, "farmaci|pillole|dimagrire|perdere peso"},
	{catCasino, 1.2, "casinò online|giri gratis|bonus senza deposito|scommesse online|slot online"},
	{catCasino, 0.6, "casinò|scommesse|bonus di benvenuto"},
	{catLoan, 1.2, "prestito veloce|prestiti veloci|senza busta paga|prestito senza garanzie|finanziamento immediato"},
	{catLoan, 0.3, "prestito|prestiti|finanziamento"},
	{catCrypto, 1.5, "rendimento garantito|profitti garantiti|guadagno garantito"},
	{catCrypto, 1.0, "reddito passivo|opportunità di investimento|piattaforma di trading"},
	{catCrypto, 0.4, "criptovalute|criptovaluta|investimento|investire"},
	{catSEO, 1.0, "prima pagina di google|posizionamento sul motore|link building per|articoli sponsorizzati"},
	{catSEO, 0.5, "posizionamento|ottimizzazione seo|traffico organico"},
	{catSpamPhrase, 0.8, "hai vinto|lavoro da casa|guadagnare online|guadagna soldi"},
	{catSpamPhrase, 0.2, "clicca qui"},
	{catPhish, 1.2, "verifica il tuo account|conferma la tua identità|account sospeso|account è stato sospeso|account bloccato|carta bloccata"},
	{catPhish, 0.7, "attività insolita|attività sospetta|aggiorna i tuoi dati|motivi di sicurezza"},
	{catPhish, 0.4, "entro 24 ore|bloccato|sospeso"},
	{catPassword, 1, "parola d ordine"},

	// Portuguese.
	{catPharma, 1.0, "sem receita|farmácia online|disfunção erétil|comprimidos para emagrecer"},
	{catPharma, 0.5, "remédios|comprimidos|emagrecer|perder peso"},
	{catCasino, 1.2, "cassino online|casino online grátis|rodadas grátis|giros grátis|bônus sem depósito|bónus sem depósito|apostas online"},
	{catCasino, 0.6, "cassino|apostas|bônus de boas vindas|bónus|caça níqueis"},
	{catLoan, 1.2, "empréstimo rápido|empréstimo sem consulta|crédito sem consulta|dinheiro rápido|empréstimo aprovado"},
	{catLoan, 0.3, "empréstimo|empréstimos|crédito pessoal"},
	{catCrypto, 1.5, "retorno garantido|lucro garantido|lucros garantidos"},
	{catCrypto, 1.0, "renda passiva|oportunidade de investimento|robô de trading|plataforma de trading"},
	{catCrypto, 0.4, "criptomoeda|criptomoedas|investir|lucro"},
	{catSEO, 1.0, "primeira página do google|links patrocinados|construção de links"},
	{catSEO, 0.5, "posicionamento|otimização seo|tráfego orgânico"},
	{catSpamPhrase, 0.8, "você ganhou|trabalhe em casa|ganhar dinheiro online|ganhe dinheiro"},
	{catSpamPhrase, 0.2, "clique aqui"},
	{catPhish, 1.2, "verifique sua conta|confirme sua identidade|conta suspensa|conta foi suspensa|conta bloqueada|cartão bloqueado"},
	{catPhish, 0.7, "atividade incomum|atividade suspeita|atualize seus dados|motivos de segurança"},
	{catPhish, 0.4, "em 24 horas|bloqueada|suspensa"},
	{catPassword, 1, "senha"},

	// Polish.
	{catPharma, 1.0, "bez recepty|apteka online|tabletki na potencję|zaburzenia erekcji|tabletki odchudzające"},
	{catPharma, 0.5, "tabletki|odchudzanie|schudnąć|apteka"},
	{catCasino, 1.2, "kasyno online|darmowe spiny|bonus bez depozytu|zakłady bukmacherskie|automaty online"},
	{catCasino, 0.6, "kasyno|bukmacher|bonus powitalny"},
	{catLoan, 1.2, "chwilówka|chwilówki|pożyczka bez bik|pożyczka bez zaświadczeń|szybka pożyczka|kredyt bez bik"},
	{catLoan, 0.3, "pożyczka|pożyczki|kredyt gotówkowy"},
	{catCrypto, 1.5, "gwarantowany zysk|gwarantowane zyski|gwarantowany zwrot"},
	{catCrypto, 1.0, "dochód pasywny|pasywny dochód|okazja inwestycyjna|platforma inwestycyjna"},
	{catCrypto, 0.4, "kryptowaluty|kryptowaluta|inwestycja|inwestować|zysk"},
	{catSEO, 1.0, "pozycjonowanie stron|pierwsza strona google|linki sponsorowane|artykuły sponsorowane"},
	{catSEO, 0.5, "pozycjonowanie|ruch organiczny"},
	{catSpamPhrase, 0.8, "wygrałeś|wygrałaś|praca w domu|zarabiaj w internecie|zarabianie online"},
	{catSpamPhrase, 0.2, "kliknij tutaj"},
	{catPhish, 1.2, "zweryfikuj swoje konto|potwierdź swoją tożsamość|konto zostało zawieszone|konto zablokowane|karta zablokowana"},
	{catPhish, 0.7, "nietypowa aktywność|podejrzana aktywność|zaktualizuj swoje dane|względów bezpieczeństwa"},
	{catPhish, 0.4, "w ciągu 24 godzin|zablokowane|zawieszone"},
	{catPassword, 1, "hasło"},

	// Turkish.
	{catPharma, 1.0, "reçetesiz|online eczane|sertleşme sorunu|zayıflama hapı"},
	{catPharma, 0.5, "ilaç|hap|zayıflama|kilo vermek"},
	{catCasino, 1.2, "canlı casino|online casino siteleri|bedava spin|deneme bonusu|yatırımsız bonus|kaçak bahis|canlı bahis|bahis siteleri"},
	{catCasino, 0.6, "bahis|kumar|hoş geldin bonusu"},
	{catLoan, 1.2, "kefilsiz kredi|sicile bakılmaksızın|anında kredi|hızlı kredi|kredi notu önemsiz"},
	{catLoan, 0.3, "borç para|ihtiyaç kredisi"},
	{catCrypto, 1.5, "garantili kazanç|garantili getiri|kesin kazanç"},
	{catCrypto, 1.0, "pasif gelir|yatırım fırsatı|trading botu|yatırım platformu"},
	{catCrypto, 0.4, "kripto|kripto para|yatırım|kazanç"},
	{catSEO, 1.0, "google ilk sayfa|backlink paketi|tanıtım yazısı|site sıralaması"},
	{catSEO, 0.5, "seo hizmeti|organik trafik"},
	{catSpamPhrase, 0.8, "evden çalışma|evden para kazan|internetten para kazan"},
	{catSpamPhrase, 0.2, "buraya tıklayın|tıklayın"},
	{catPhish, 1.2, "hesabınızı doğrulayın|kimliğinizi doğrulayın|hesabınız askıya alındı|hesabınız bloke|kartınız bloke"},
	{catPhish, 0.7, "olağandışı etkinlik|şüpheli etkinlik|bilgilerinizi güncelleyin|güvenlik nedeniyle"},
	{catPhish, 0.4, "24 saat içinde|askıya alındı|bloke edildi"},
	{catPassword, 1, "şifre|parola"},

	// Ukrainian.
	{catPharma, 1.0, "без рецепта лікаря|віагр*|для потенції|схуднення без"},
	{catPharma, 0.5, "таблетки для схуднення|схуднути|аптека онлайн"},
	{catCasino, 1.2, "безкоштовні оберти|бонус без депозиту|ігрові автомати"},
	{catCasino, 0.6, "букмекерськ*|азартні ігри"},
	{catLoan, 1.2, "кредит без довідок|кредит без відмови|позика онлайн|мікропозик*|гроші в борг"},
	{catLoan, 0.3, "позика|позики|кредит готівкою"},
	{catCrypto, 1.5, "гарантований дохід|гарантований прибуток"},
	{catCrypto, 1.0, "пасивний дохід|інвестиційн*|торговий бот"},
	{catCrypto, 0.4, "криптовалют*|інвестиції|прибуток"},
	{catSEO, 1.0, "просування сайтів|просування сайту|вічні посилання|перша сторінка google"},
	{catSEO, 0.5, "просуванн*|відвідуваність"},
	{catSpamPhrase, 0.8, "ви виграли|робота вдома|заробіток в інтернеті"},
	{catSpamPhrase, 0.2, "натисніть тут"},
	{catPhish, 1.2, "підтвердіть свій обліковий|обліковий запис заблоковано|картку заблоковано|підтвердіть особу"},
	{catPhish, 0.7, "підозріла активність|незвична активність|оновіть свої дані"},
	{catPhish, 0.4, "протягом 24 годин|заблоковано"},

	// Arabic.
	{catPharma, 1.0, "بدون وصفة طبية|صيدلية اونلاين|صيدلية أونلاين|ضعف الانتصاب|حبوب التخسيس|فياجرا"},
	{catPharma, 0.5, "حبوب|تخسيس|انقاص الوزن|إنقاص الوزن"},
	{catCasino, 1.2, "كازينو اون لاين|كازينو أونلاين|لفات مجانية|مكافأة بدون إيداع|مراهنات رياضية"},
	{catCasino, 0.6, "كازينو|مراهنات|رهان|قمار"},
	{catLoan, 1.2, "قرض سريع|قروض سريعة|قرض بدون ضمان|تمويل فوري|قرض بدون كفيل"},
	{catLoan, 0.3, "قرض|قروض|تمويل شخصي"},
	{catCrypto, 1.5, "أرباح مضمونة|ارباح مضمونة|عائد مضمون|ربح مضمون"},
	{catCrypto, 1.0, "دخل سلبي|فرصة استثمارية|منصة تداول|روبوت تداول"},
	{catCrypto, 0.4, "عملات رقمية|العملات الرقمية|بيتكوين|استثمار|تداول|أرباح"},
	{catSEO, 1.0, "الصفحة الأولى في جوجل|الصفحة الاولى في جوجل|روابط خلفية|باك لينك"},
	{catSEO, 0.5, "تحسين محركات البحث|زيادة الزيارات|سيو"},
	{catSpamPhrase, 0.8, "لقد فزت|مبروك لقد|العمل من المنزل|الربح من الانترنت|الربح من الإنترنت"},
	{catSpamPhrase, 0.2, "اضغط هنا|انقر هنا"},
	{catPhish, 1.2, "تحقق من حسابك|تأكيد هويتك|تم تعليق حسابك|تم إيقاف حسابك|تم حظر حسابك|تم تجميد بطاقتك"},
	{catPhish, 0.7, "نشاط غير عادي|نشاط مشبوه|تحديث بياناتك|لأسباب أمنية"},
	{catPhish, 0.4, "خلال 24 ساعة|معلق|محظور"},
	{catExtortion, 1.5, "سجلت لك فيديو|كاميرا الويب|جميع جهات اتصالك|محفظة بيتكوين"},
	{catDating, 1.2, "فتيات بالقرب منك|نساء وحيدات|تعارف للزواج السريع"},
	{catPrize, 1.5, "لقد ربحت|استلم جائزتك|بطاقة هدية مجانية|تم اختيارك"},
	{catPrize, 0.3, "جائزة|جوائز|الفائز|يانصيب"},
	{catAdvanceFee, 1.5, "صندوق الميراث|أقرب الأقارب|مبلغ مالي ضخم|مليون دولار أمريكي|ملايين الدولارات"},
	{catAdvanceFee, 0.3, "ميراث|المستفيد|أرملة"},
	{catPassword, 1, "كلمة المرور|كلمة السر"},

	// Chinese (simplified and traditional), found inside runs of text.
	{catPharma, 1.0, "伟哥|偉哥|壮阳|壯陽|无需处方|無需處方|减肥药|減肥藥|春药|春藥"},
	{catPharma, 0.4, "药品|藥品|减肥|減肥"},
	{catCasino, 1.2, "网上赌场|線上賭場|在线赌场|在線賭場|百家乐|百家樂|博彩|老虎机|老虎機|免费旋转|首存送|体育投注|體育投注|棋牌"},
	{catCasino, 0.6, "赌场|賭場|彩票|投注|返水|娱乐城|娛樂城"},
	{catLoan, 1.2, "无抵押贷款|無抵押貸款|免审核|免審核|秒批|快速放款|黑户贷款|黑戶貸款|无需征信|無需徵信"},
	{catLoan, 0.3, "贷款|貸款|借款"},
	{catCrypto, 1.5, "保证收益|保證收益|稳赚不赔|穩賺不賠|日赚|日賺|月入过万|月入過萬"},
	{catCrypto, 1.0, "被动收入|被動收入|投资机会|投資機會|量化交易|带单|帶單|高回报|高回報"},
	{catCrypto, 0.4, "比特币|比特幣|加密货币|加密貨幣|虚拟币|虛擬幣|投资|投資|收益"},
	{catSEO, 1.0, "百度排名|首页排名|首頁排名|快速排名|外链|外鏈|蜘蛛池|刷流量|网站推广|網站推廣"},
	{catSEO, 0.5, "seo优化|搜索引擎优化|搜尋引擎優化"},
	{catSpamPhrase, 0.8, "恭喜您|兼职|兼職|在家赚钱|在家賺錢|刷单|刷單|日结|日結"},
	{catSpamPhrase, 0.2, "点击这里|點擊這裡|点击链接|點擊鏈接"},
	{catPhish, 1.2, "验证您的账户|驗證您的帳戶|账户已被冻结|帳戶已被凍結|账户异常|帳戶異常|账号已被冻结|帳號已被凍結"},
	{catPhish, 0.7, "异常登录|異常登錄|可疑活动|可疑活動|更新您的信息|更新您的資料"},
	{catPhish, 0.4, "24小时内|24小時內|冻结|凍結"},
	{catExtortion, 1.5, "摄像头|攝像頭|你的联系人|你的聯絡人|比特币钱包|比特幣錢包|不雅视频|不雅視頻"},
	{catDating, 1.2, "同城约会|同城約會|附近美女|寂寞少妇|寂寞少婦|约炮|約炮|交友网站"},
	{catPrize, 1.5, "您已中奖|您已中獎|领取奖品|領取獎品|免费礼品卡|免費禮品卡|幸运用户|幸運用戶"},
	{catPrize, 0.3, "中奖|中獎|奖品|獎品|抽奖|抽獎"},
	{catAdvanceFee, 1.5, "遗产继承|遺產繼承|巨额资金|巨額資金"},
	{catPassword, 1, "密码|密碼"},

	// Japanese.
	{catPharma, 1.0, "バイアグラ|シアリス|処方箋なし|処方せん不要|精力剤|ダイエット薬"},
	{catPharma, 0.4, "医薬品|サプリ"},
	{catCasino, 1.2, "オンラインカジノ|入金不要ボーナス|フリースピン|スポーツベット|ブックメーカー"},
	{catCasino, 0.6, "カジノ|スロット|ボーナスコード|ギャンブル"},
	{catLoan, 1.2, "即日融資|審査なし|ブラックでも借りれる|無審査|即日キャッシング"},
	{catLoan, 0.3, "融資|キャッシング|ローン"},
	{catCrypto, 1.5, "確実に儲かる|元本保証|必ず儲かる|月収100万"},
	{catCrypto, 1.0, "不労所得|投資案件|自動売買|副業で稼ぐ"},
	{catCrypto, 0.4, "仮想通貨|暗号資産|ビットコイン|投資|利益"},
	{catSEO, 1.0, "被リンク|上位表示|検索順位を上げ|アクセスアップ"},
	{catSEO, 0.5, "seo対策|検索エンジン最適化"},
	{catSpamPhrase, 0.8, "おめでとうございます|在宅ワーク|簡単に稼げる|副業"},
	{catSpamPhrase, 0.2, "こちらをクリック|今すぐクリック"},
	{catPhish, 1.2, "アカウントを確認|本人確認|アカウントが停止|アカウントがロック|カードが停止|利用停止"},
	{catPhish, 0.7, "不正アクセス|不審なログイン|異常なログイン|情報を更新"},
	{catPhish, 0.4, "24時間以内|停止されました|ロックされました"},
	{catExtortion, 1.5, "ウェブカメラ|あなたの連絡先|動画を送信|ビットコインで支払"},
	{catDating, 1.2, "出会い系|人妻|セフレ|近所の女性|寂しい女性|会いたい"},
	{catDating, 0.6, "出会い|プロフィール"},
	{catPrize, 1.5, "当選しました|賞品を受け取|無料ギフトカード|アマゾンギフト券|選ばれました"},
	{catPrize, 0.3, "当選|賞品|抽選"},
	{catPassword, 1, "パスワード|暗証番号"},

	// Korean, found inside words: particles attach to nouns.
	{catPharma, 1.0, "비아그라|시알리스|처방전 없이|발기부전|다이어트약"},
	{catPharma, 0.4, "약국|다이어트"},
	{catCasino, 1.2, "온라인카지노|온라인 카지노|바카라|토토사이트|먹튀|슬롯사이트|무료스핀|첫충"},
	{catCasino, 0.6, "카지노|슬롯|배팅|베팅"},
	{catLoan, 1.2, "무직자대출|무직자 대출|신용불량자 대출|당일대출|당일 대출|무서류 대출|급전"},
	{catLoan, 0.3, "대출|대부"},
	{catCrypto, 1.5, "원금보장|원금 보장|수익보장|수익 보장|고수익 보장"},
	{catCrypto, 1.0, "리딩방|자동매매"},
	{catCrypto, 0.4, "부업|재테크"},
	{catCrypto, 0.4, "비트코인|가상화폐|암호화폐|코인|투자|수익"},
	{catSEO, 1.0, "상위노출|상위 노출|백링크|검색순위"},
	{catSEO, 0.5, "검색엔진 최적화|트래픽"},
	{catSpamPhrase, 0.8, "축하합니다|재택근무|고수익 알바|쉽게 돈"},
	{catSpamPhrase, 0.2, "여기를 클릭|지금 클릭"},
	{catPhish, 1.2, "계정을 확인|본인 인증|계정이 정지|계정이 잠겼|카드가 정지|계정이 차단"},
	{catPhish, 0.7, "비정상적인 로그인|의심스러운 활동|정보를 업데이트"},
	{catPhish, 0.4, "24시간 이내|정지되었습니다"},
	{catExtortion, 1.5, "웹캠|모든 연락처|비트코인 지갑|영상을 보내"},
	{catDating, 1.2, "조건만남|외로운 여성|근처 여성|애인대행|만남사이트"},
	{catPrize, 1.5, "당첨되셨습니다|경품을 받|무료 기프트카드|선정되셨습니다"},
	{catPrize, 0.3, "당첨|경품"},
	{catPassword, 1, "비밀번호|암호"},
}

// wideTerm is a lexicon term in a script written without spaces between
// words, looked up inside the text rather than as a token.
type wideTerm struct {
	text []byte // tokenised, as in textScan.norm
	id   int32
}

// isWideTerm reports whether a tokenised lexicon term is in a script
// written without spaces between words.
func isWideTerm(norm string) bool {
	var scripts [numScripts]bool
	return hasWideScript([]byte(norm), &scripts)
}

// matchWide looks the lexicon's Chinese, Japanese and Korean terms up
// inside the tokens, once all are known. It costs nothing for a message
// without such text: their letters are three bytes long in UTF-8 and
// begin with a byte from 0xE0 to 0xED, which Latin, Cyrillic and Arabic
// letters never do.
func (t *textScan) matchWide() {
	if len(lexicon.wide) == 0 || !hasWideBytes(t.norm) {
		return
	}
	for _, w := range lexicon.wide {
		if bytes.Contains(t.norm, w.text) {
			t.hit(w.id)
		}
	}
}

func hasWideBytes(b []byte) bool {
	for _, c := range b {
		if c >= 0xE0 && c <= 0xED {
			return true
		}
	}
	return false
}
