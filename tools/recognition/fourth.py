"""A fourth held-out part, read once by the shipped model only (2026-12-06, session 14).

    PYTHONPATH=.:proto .venv/bin/python -m tools.recognition.fourth leak    # no model: the leak check
    PYTHONPATH=.:proto .venv/bin/python -m tools.recognition.fourth read [--json PATH]

Why: the third part (`third.py`) was used in session 9 to choose between models, so its figure
is no longer one on requests no choice has seen. These requests were written in session 14 by
the same recipe as the third part and without opening the train part's texts or the other
parts' texts: hotline operators' summaries ("市民来电反映", "来电人称"), WeChat messages without
punctuation, letters to the mayor, web forms with a title; complaints, consultations, reports,
suggestions, requests for help and praise; a county, a town or a landmark in the words or an
address typed on about a quarter of them; some with the caller's circumstances; a few with a
second matter ("另外…", "还有就是…"). One matter each. The label is the unit Fuyang's 12345 would
give the request to, and the subcategory.

The rule of the read was committed before any model read this part (docs/recognition.md,
"Session 14"): the shipped model exactly as the service scores it (`LinearClassifier` with the
权责清单, routing v2's unit confidence, the threshold in the model file); no retraining, no
threshold, weight or label read from here; the labels are not changed after the read. `digest()`
fingerprints the part; the read prints it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from typing import Any

from services.dispatch.domain.datafiles import load_json
from services.dispatch.domain.labelled import LabelledRequest

C, H, Q, S, P, R = "complaint", "help", "consultation", "suggestion", "praise", "report"

# subcategory -> (request type, text[, address]); each entry is its own matter.
FOURTH: dict[str, list[tuple[str, ...]]] = {
    "property": [
        (C, "市民来电反映：其所住小区物业擅自将地下车库的公共车位出租给外来车辆，业主晚上回家没地方停车，物业称是开发商授权，来电人要求查明车库产权和收益归属。", "颍东区向阳街道"),
        (C, "物业把小区大门的人脸识别停了 说没钱维护 现在谁都能进来 晚上还有人在楼道里睡觉 还有楼下那几盏路灯也一直不亮"),
        (Q, "尊敬的市长：我们小区的物业合同明年到期，业主们想换一家物业公司，请问选聘新物业要经过哪些程序，需要多少业主同意？"),
        (C, "标题：物业动用维修资金不公示\n内容：物业说要用专项维修资金更换电梯主板，每户分摊八百多，但一直不公示报价和施工合同，业主要求看明细被拒绝。", "颍州区文峰街道"),
        (C, "来电人称小区的化粪池满了，污水从井盖里冒到路上，物业说要业主凑钱请抽粪车，来电人认为这是物业应该做的。"),
        (R, "我们小区物业经理换了三个 现在干脆没人管了 保安也撤了 门卫室锁着 物业费照收"),
        (S, "建议三清街道牵头给我们小区成立业委会，现在物业一家说了算，收费涨了也不开业主大会。"),
    ],
    "old-estate": [
        (Q, "市民来电咨询：其居住的颍州区文峰街道某单位宿舍楼属于老旧小区，询问今年改造是否包括更换老化的供水管和电线，居民需要做什么准备。"),
        (C, "旧改把我们楼道的扶手换了 结果新扶手一个月就松了 一推就晃 老人上下楼不敢扶"),
        (C, "尊敬的领导：我们是老城区一个八十年代的家属院，纳入改造名单已经两年了，每次问都说在排队，院里的化粪池年年堵，路面坑坑洼洼，恳请尽快安排改造。"),
        (H, "标题：旧改加装电梯一楼住户不同意\n内容：我们单元想利用老旧小区改造的机会加装电梯，六户有五户同意，一楼坚决反对，社区说协调不了，请问改造办能否出面。"),
        (C, "来电人称其小区老旧改造时施工方把外墙保温做了一半就撤场，脚手架还搭在楼边，已经停工两个月，居民担心安全。", "界首市颍南街道"),
        (S, "老旧小区改造完了以后没有物业，刚修好的路灯和健身器材又没人管，建议改造时一并引进物业或者社区代管。"),
    ],
    "construction-site": [
        (C, "市民来电反映：颍州区某楼盘工地每天早上五点就开始进出混凝土罐车，车轮带泥把整条路弄得泥泞不堪，工地门口的冲洗设备形同虚设。"),
        (R, "工地的临时电线就拖在地上 泡在水坑里 小孩放学从边上走 太吓人了"),
        (C, "尊敬的市长：我家紧挨着一个在建小区，工地的基坑挖得很深，最近我家院墙和地面出现了裂缝，找施工单位他们不承认是基坑开挖造成的，请住建部门派人鉴定。"),
        (R, "标题：工地工人不戴安全帽高空作业\n内容：对面工地的工人在十几层楼高的外架上干活，不系安全带也不戴安全帽，底下就是人行通道，请安监人员去查一下。"),
        (C, "来电人称其小区对面的工地围挡上方没有喷淋，一刮风沙土全吹进小区，晾的衣服一天就脏了，来电人要求工地落实降尘措施。", "阜南县鹿城镇"),
        (Q, "请问在建工地的施工许可证和工程概况牌应该公示在哪里？我们想查一下隔壁工地的开发单位是谁。"),
    ],
    "housing-delivery": [
        (C, "市民来电反映：其在太和县购买的期房，开发商交房时实测面积比合同多了六平方米，要求业主补交房款，业主认为测绘结果有问题。"),
        (C, "交房才半年 卫生间就往楼下渗水 开发商说过了保修期 防水不是五年保修吗"),
        (C, "尊敬的市长：我们小区购房时宣传是精装修交付，实际交房时地板起拱、橱柜变形，开发商拒绝整改，只愿意每户补偿两千元，业主无法接受。"),
        (C, "标题：开发商逾期交房不给违约金\n内容：合同写明逾期交房按日支付万分之二违约金，开发商晚交了八个月，现在让我们签一份放弃违约金的补充协议才给钥匙。"),
        (Q, "买的新房开发商一直不给办房产证，说是大证还没下来，请问交房后多长时间内必须办好，逾期了找谁？"),
        (C, "来电人称其购买的商品房交付时小区的燃气管道还没通，开发商承诺三个月内通气，现已过去一年仍未通，冬天只能用电做饭。", "临泉县城东街道"),
    ],
    "expropriation": [
        (C, "市民来电反映：其家位于颍泉区周棚街道的老房子被列入棚改范围，评估公司上门只看了十分钟就出了评估报告，室内装修和附属房都没算，来电人要求重新评估。"),
        (C, "拆迁的时候说好两年回迁 现在第四年了 安置房还是一片空地 过渡费也减半了"),
        (Q, "尊敬的领导：我家的房子在征收范围内，户口里有一个已经出嫁的女儿，请问安置面积的人口认定包不包括她？征收政策是怎么规定的？"),
        (C, "标题：征收工作人员威胁不签就强拆\n内容：我们村这片要征收，工作人员天天上门，说不签协议就按违建处理，一分钱补偿都拿不到，我们只是想要个合理的价格。"),
        (C, "来电人称其家的养殖场在征收范围内，征收部门只补偿了房屋部分，鱼塘和养殖设备没有任何补偿，来电人多次反映无果。", "颍东区口孜镇"),
        (Q, "请问房屋征收是选货币补偿划算还是产权置换划算，两种方式的补偿标准能不能公开给我们看看？"),
    ],
    "housing-fund": [
        (Q, "市民来电咨询：其父亲生病住院花费较大，询问子女的住房公积金能否提取用于支付父母的大病医疗费用。"),
        (Q, "离职了公积金能不能全部取出来 我是外地户口 要回老家了"),
        (C, "尊敬的市长：我申请公积金贷款买房，银行和公积金中心来回让我跑，一会说缺收入证明一会说缺婚姻证明，已经跑了五趟还没受理，请求帮助。"),
        (C, "标题：单位少缴公积金\n内容：我们单位按最低基数给我们交公积金，工资条上扣的和公积金账户里的对不上，请问去哪里核查？"),
        (Q, "用公积金贷款买了房，现在想提前还一部分贷款，可以直接用公积金账户里的钱冲还吗？怎么办理？"),
        (C, "来电人称其公积金账户被冻结，公积金中心称是因为其前单位申报有误，需要前单位出具证明，但前单位已经注销，来电人不知如何解冻。"),
    ],
    "housing-security": [
        (Q, "市民来电咨询：其为残疾人，家庭人均收入较低，询问申请保障性租赁住房是否有优先政策，需要到哪里递交材料。"),
        (C, "公租房分到了六楼没电梯 我妈腿脚不好 申请调换到一楼 说没房源 都半年了"),
        (C, "尊敬的市长：我是引进的博士，按政策应享受人才安居补贴，材料交到人社和住建两个部门，互相说归对方管，已经一年多没有结果。"),
        (R, "标题：公租房被改成仓库\n内容：我们楼里有一套公租房一直没人住，承租人在外地做生意，把房子锁起来堆货，真正需要的人却住不进来，请核查。"),
        (Q, "新市民在阜阳没有房子，能不能申请保障性租赁住房？租金是市场价的多少？"),
        (C, "来电人称其符合首套房购房补贴条件，但申请时被告知其配偶名下曾有一套农村自建房，不予发放，来电人认为农村自建房不应算作住房。", "颍上县"),
    ],
    "city-appearance": [
        (C, "市民来电反映：颍州区鼓楼街道某路段人行道上堆放大量装修垃圾和废弃家具，已有一个多月无人清理，影响行人通行和市容。另外该路段的路灯也坏了好几盏，晚上很黑。"),
        (C, "小区门口的电线杆上贴满了办证的小广告 刚撕了第二天又贴上"),
        (C, "尊敬的领导：我们这条街的店铺把洗车的污水直接排到人行道上，冬天结冰很滑，整条街又脏又乱，希望城管部门加强管理。"),
        (C, "标题：共享电单车乱停乱放\n内容：商场门口的人行道被共享电单车占满了，推婴儿车都过不去，运营公司也不来收。"),
        (S, "建议在文化广场周边多设几个垃圾桶和公厕指示牌，周末人多，到处是饮料瓶和食品袋。"),
        (C, "来电人称其住宅楼下的绿化带被附近居民开垦种菜，还浇粪水，气味难闻，蚊蝇很多。", "太和县城关镇"),
    ],
    "street-vending": [
        (C, "市民来电反映：阜阳一中附近每到放学时间就有十几个流动摊贩占道卖炸串和奶茶，学生挤在路边，车辆无法通行，来电人要求城管加强管理。"),
        (C, "楼下的烧烤摊把桌子摆到马路中间 喝到半夜两点 又吵又是烟"),
        (C, "尊敬的市长：我们小区门口的路每天早上被卖菜的三轮车占满，形成了一个马路市场，上班的车根本开不出去，菜叶子烂果子扔一地，希望能规范设置临时疏导点。"),
        (C, "标题：商铺店外经营占用盲道\n内容：步行街两侧的服装店把衣架摆到店门外，盲道全被占了，城管来了就收，走了又摆。"),
        (S, "建议在人民路附近划定夜市区域，现在摆摊的到处都是，既不方便管理也不安全，划了区域大家都好。"),
        (R, "来电人称其所在镇的集市逢集时摊位摆到国道上，大货车经过时非常危险，来电人担心发生事故。", "阜南县王家坝镇"),
    ],
    "illegal-building": [
        (R, "市民来电反映：其楼顶一户业主在屋面上用彩钢瓦加盖了一层房子，施工期间楼下住户屋顶已经开始渗水，来电人要求执法部门查处。", "颍州区清河街道"),
        (R, "一楼那家把院子圈起来盖了两间房 还往外扩了一米 占了小区的路"),
        (C, "尊敬的领导：我们村有户人家在村道边上私自盖门面房，把排水沟都压在下面了，一下雨水排不出去，村里说管不了，请求相关部门依法处理。"),
        (R, "标题：住户拆除承重墙\n内容：楼下邻居装修把客厅和卧室之间的承重墙砸掉了，整栋楼的人都很担心，物业劝了不听，请执法部门尽快制止。"),
        (C, "隔壁饭店在后院私搭了一个彩钢棚当厨房，油烟管道直接对着我家窗户，请查一下这个棚子有没有手续。"),
        (R, "来电人称其小区某业主将车库改造成住房出租，私自开窗、接水接电，来电人认为属于违法改建，要求查处。", "临泉县城关街道"),
    ],
    "garbage": [
        (C, "市民来电反映：颍东区河东街道某小区的垃圾桶已经三天没人清运，垃圾堆得比桶还高，天热气味很大，来电人要求尽快清运。"),
        (C, "垃圾车每天早上四点来收垃圾 哐哐响 还有一路的臭水"),
        (C, "尊敬的市长：我们村的垃圾中转站就建在村小学的围墙边，垃圾经常满出来，夏天苍蝇乱飞，孩子们上课都能闻到臭味，恳请将中转站迁走或者加强清运。"),
        (S, "标题：垃圾分类投放点建议\n内容：小区搞垃圾分类以后，投放点只在早晚各开一个小时，上班族根本赶不上，导致大家把垃圾袋扔在投放点外面，建议延长投放时间。"),
        (R, "村头的沟里有人长期往里倒生活垃圾，还经常点火烧，烟熏得人头疼。", "颍上县谢桥镇"),
        (C, "来电人称其所在小区的垃圾分类厨余桶长期不清洗，桶底的污水流到车道上，物业称垃圾由环卫公司负责。", "颍泉区周棚街道"),
    ],
    "street-lights": [
        (C, "市民来电反映：颍州区京九路往南一段路灯全部不亮，已有半个多月，晚上路面漆黑，电动车经常撞到路边的石墩。"),
        (C, "桥上的路灯一到下雨就闪 一闪一闪的 晚上开车晃眼睛"),
        (R, "尊敬的领导：我们小区门口的一根路灯杆被车撞歪了，斜在人行道上，灯罩也掉了，随时可能倒下来，请尽快派人处理。"),
        (C, "标题：新修的路没装路灯\n内容：城南新区这条新修的路已经通车一年了，两边有灯杆但一直没通电，晚上只能摸黑走，附近学生下晚自习很不安全。"),
        (S, "建议把文峰公园里的景观灯关掉一些，改成亮一点的照明灯，现在晚上散步的人多，步道上反而看不清。"),
        (C, "我们这是临泉县杨桥镇，村到镇上的那条路上装的太阳能路灯，装了不到一年就全坏了，一盏都不亮，问村里说是县里统一装的。"),
    ],
    "outdoor-ads": [
        (R, "市民来电反映：某商场外墙上的大型广告牌铁架锈蚀严重，上周大风时有一块面板被吹落，砸在停车场的车上，来电人担心还会掉落。"),
        (C, "对面的LED大屏晚上亮到十二点 光直接打进我们卧室 拉窗帘都没用"),
        (S, "尊敬的市长：我们这条商业街的门头招牌五花八门，有的伸出来一米多，还有的挂着破旧的灯箱，既不美观又不安全，建议统一规范。"),
        (R, "标题：过街天桥挂满横幅\n内容：人民路过街天桥两侧被挂满了各种商业横幅，有的已经破烂，挡住了司机视线。"),
        (Q, "请问在自己店门口立一个广告灯箱需要去哪里审批？"),
        (C, "来电人称路边一个广告牌立在人行道正中间，底座还伸出来几根钢筋，夜里已经有人被绊倒。", "颍上县"),
    ],
    "taxi": [
        (C, "市民来电反映：其乘坐出租车时发现车内计价器跳得特别快，五公里的路程打表四十多元，怀疑计价器被改装，来电人保留了发票，要求运管部门检查。"),
        (C, "打的网约车司机半路说顺路再拉一个人 我说不行 他就把我放在路边了"),
        (H, "尊敬的领导：我昨天晚上坐出租车回家把装着证件的手提包落在车上了，没记车牌号，只有付款记录，请问能否帮忙联系司机？"),
        (C, "标题：出租车拒载老人\n内容：在市人民医院门口看到好几辆空出租车都不拉拄拐杖的老人，说是嫌距离近，希望管一管。"),
        (C, "来电人称其通过某网约车平台叫车，司机绕远路多收了三十多元，平台客服至今未处理。"),
        (S, "建议火车站的出租车排队点加个遮雨棚，晚上下车的人多，排队的车少，经常要淋雨等很久。"),
    ],
    "bus": [
        (C, "市民来电反映：某路公交车晚上七点以后就停运了，其在工业园区上班，下班后只能步行四公里回家，来电人希望延长运营时间。还有就是那一路的站台座椅坏了也没人修。"),
        (C, "公交司机开得太猛了 一脚刹车我奶奶差点摔倒 他还嫌我们动作慢"),
        (S, "尊敬的市长：我们新搬进的小区附近没有公交站，最近的站点要走二十分钟，小区住了几千户，建议开通一条公交线路或者增设站点。"),
        (C, "标题：老年卡充值不到账\n内容：在自助机上给老年卡充值了一百元，刷卡时显示余额还是零，客服说要等三个工作日，已经过了一周。"),
        (Q, "请问从阜阳到界首的城际公交每天几点有车？在哪个站上车？"),
        (C, "村村通公交说好每天四班，实际一天只来一趟，有时候一整天都不来，我们去镇上看病只能打三轮。", "临泉县"),
    ],
    "road-damage": [
        (C, "市民来电反映：太和县某乡村公路路面大面积塌陷，最深的坑有二十多公分，晚上已经有骑摩托车的摔伤，来电人要求尽快修补。"),
        (R, "桥上的护栏断了一截 就用个锥桶挡着 下面就是河 太危险了"),
        (C, "尊敬的领导：阜南县通往郜台乡的县道刚修好不到一年，重车一压就出现了车辙和裂缝，怀疑工程质量有问题，请有关部门调查。"),
        (C, "标题：修路半年不完工\n内容：通往我们村的路挖开已经半年了，一直没人施工，路上全是坑，下雨天车都开不出去。"),
        (R, "来电人称其行至某路段时发现路中间的伸缩缝钢板翘起，车辆经过发出巨响，存在爆胎风险。"),
        (S, "建议对乡镇道路两侧的路肩进行硬化，现在路太窄，会车时一让就掉到沟里。"),
    ],
    "traffic-order": [
        (C, "市民来电反映：其小区门口的路口红绿灯时间设置不合理，东西向绿灯只有十秒，每天早高峰排队一公里，来电人要求交警部门调整配时。"),
        (C, "学校门口接孩子的车双排停 把整条路都堵死了 早上八点谁都过不去"),
        (R, "尊敬的市长：每天夜里都有几辆改装了排气管的摩托车在人民路上飙车，声音像放炮，还闯红灯，严重影响周边居民休息和交通安全，请求交警部门整治。"),
        (C, "标题：渣土车闯红灯\n内容：城南这片的渣土车天天闯红灯、超速，上周在路口还撞了一个骑电动车的，请交警加强管理。"),
        (S, "建议在这个无信号灯的路口加装红绿灯，这里是学生上学必经的路口，车速又快，已经出过好几起事故了。", "颍东区新华街道"),
        (Q, "请问电动自行车没有上牌上路会被罚款吗？去哪里办牌照？"),
    ],
    "air-pollution": [
        (C, "市民来电反映：其住处附近一家塑料颗粒厂生产时散发出烧塑料的臭味，尤其是下午和傍晚最重，小区里不少老人出现咳嗽，来电人要求环保部门监测。"),
        (C, "楼下饭店的油烟机管道直接对着小区花园排 一到饭点整个院子都是油烟味"),
        (R, "尊敬的领导：我们村旁边的砖厂烟囱冒黑烟，附近的庄稼叶子上都是一层黑灰，村民咳嗽的很多，请环保部门来检测。"),
        (C, "标题：汽修店露天喷漆\n内容：小区临街的汽修店直接在门口喷漆，油漆味飘进家里，孩子闻了头晕恶心。"),
        (R, "来电人称其住处附近的一家木材加工厂锯末粉尘到处飞，晾晒的衣物和车辆上全是木屑，来电人要求查处。", "界首市"),
        (Q, "请问市里的空气质量监测数据在哪里能查到？最近总觉得空气里有股焦味，想看看是不是超标了。"),
    ],
    "water-pollution": [
        (R, "市民来电反映：阜南县某镇一家养猪场把猪粪水直接排进旁边的沟渠，沟水发黑发臭，下游村民浇地都不敢用，来电人要求环保部门查处。"),
        (R, "河里又漂起一大片死鱼 水是绿的 上游那个厂晚上偷偷放水"),
        (C, "尊敬的市长：我们闻集镇村边的小河原来能洗衣服，这几年上游建了几个洗沙场，河水整天是黄泥汤，河底全淤了，恳请治理。"),
        (R, "标题：洗车店污水直排河道\n内容：河边的一家洗车店把洗车水和油污通过一根管子直接排进河里，河面上漂着一层油花。"),
        (Q, "我们家打的井水最近有股怪味，附近新开了一个电镀厂，想请环保部门检测一下水质，该怎么申请？"),
        (C, "来电人称其承包的鱼塘紧挨着一家食品厂，工厂排放的污水流入鱼塘造成鱼大量死亡，工厂拒不赔偿，来电人要求环保部门调查。", "颍上县江口镇"),
    ],
    "noise": [
        (C, "市民来电反映：其小区旁边的一家石材加工厂每天切割石头，噪声很大，晚上十点以后仍在作业，附近居民无法入睡。"),
        (C, "对面商场楼顶的空调外机 嗡嗡响一夜 我们这栋楼都听得见"),
        (C, "尊敬的领导：我家附近新建的搅拌站，运料的车和机器从早到晚轰鸣，家里老人心脏不好，晚上根本睡不着，希望能限制作业时间。另外搅拌站的重车把村口的路都压坏了。"),
        (C, "标题：工厂夜间噪声扰民\n内容：工业园区里有家纺织厂二十四小时开工，织布机的声音传出好几里地，住在附近的村民已经忍了一年多了。", "太和县"),
        (R, "来电人称其住处附近一处道路施工工地凌晨一点还在用破碎锤作业，声音刺耳，来电人要求查处夜间施工。"),
        (C, "来电人称其小区隔壁的冷库压缩机和冷却风扇整夜运转，噪声很大，来电人要求环保部门监测处理。"),
    ],
    "straw-burning": [
        (R, "市民来电反映：颍上县一带今晚有多处焚烧秸秆，浓烟飘到高速公路上，能见度很低，来电人担心引发交通事故。"),
        (R, "我们庄后面的麦地又有人烧麦茬了 烟大得眼睛都睁不开"),
        (H, "尊敬的领导：今年麦收后村里要求秸秆全部离田，可是收秸秆的打捆机一直排不上队，地里的秸秆不能烧又运不走，耽误种玉米，我们该怎么办？"),
        (S, "标题：秸秆综合利用建议\n内容：建议在镇上设几个秸秆收储点，农户自己送过去能给点钱，这样大家就不会偷着烧了。"),
        (R, "来电人称其村周边的田地里有人焚烧玉米秸秆，火势蔓延到路边的树林，来电人已拨打火警，同时要求镇里加强禁烧巡查。"),
        (C, "来电人称镇里禁烧巡查人员发现其地里有一处黑斑，就认定其焚烧秸秆要罚款，来电人称是别人扔的烟头引燃的，要求核实。", "阜南县"),
    ],
    "food-safety": [
        (C, "市民来电反映：其在某超市购买的散装熟食回家后发现有异味，包装标签上没有生产日期，来电人要求市场监管部门检查该超市。"),
        (C, "外卖点的酸菜鱼吃出一根头发 还有苍蝇 店家说是我自己放的"),
        (R, "尊敬的领导：我们小区旁边有个没有招牌的小作坊，每天半夜做豆腐和凉皮，院子里污水横流，工人不戴口罩手套，做好的东西直接送到学校门口的小卖部。"),
        (C, "标题：学校周边小卖部卖三无辣条\n内容：孩子学校门口的小卖部卖的辣条没有生产厂家，孩子吃了拉肚子。"),
        (R, "来电人称其参加亲戚婚宴后，同桌有多人出现呕吐腹泻症状，怀疑饭店食材有问题，要求市场监管部门调查。", "界首市西城街道"),
        (Q, "请问在家里做点腊肉香肠在网上卖，需要办什么证？"),
    ],
    "consumer-rights": [
        (C, "市民来电反映：其在某家电卖场购买的空调安装后制冷效果很差，售后上门三次都说是正常的，来电人要求退换，商家拒绝。"),
        (C, "新买的手机用了十天就黑屏 店里说是我摔的 不给换 我根本没摔过"),
        (C, "尊敬的市长：我在商场买了一台冰箱，商家承诺免费送货安装，结果送货师傅额外收了两百元的搬运费，商家说与他们无关。"),
        (C, "标题：美容院诱导贷款消费\n内容：我妈在美容院做护理，店员劝她办了一张两万元的卡，还帮她在手机上办了分期贷款，现在想退卡，店家说已经开始服务不能退。"),
        (C, "来电人称其在某汽车4S店保养车辆，店家私自更换了多个零件并收取费用，事先未告知车主，来电人要求退还。"),
        (C, "来电人称其网购的家具收货时发现有裂缝，商家同意退货但要求来电人承担三百元的运费，来电人认为不合理。"),
    ],
    "price": [
        (C, "市民来电反映：八里河风景区停车场收费标准牌上写每次五元，实际收了二十元，也不给票据，来电人认为属于乱收费。"),
        (C, "菜市场的猪肉摊 称上写的一斤十五 付钱的时候按十八算 问就说标价牌是昨天的"),
        (C, "尊敬的领导：我们小区的充电桩收费比外面贵一倍多，每度电一块八，还另外收服务费，请问这个价格是谁定的，合不合规？"),
        (C, "标题：药店同一种药价格相差很大\n内容：同一盒降压药，在小区门口药店卖四十八，在另一家连锁药店卖二十六，价格差这么多正常吗，有没有人管？"),
        (C, "来电人称其在某酒店吃饭，菜单上的海鲜写的是时价，结账时一盘虾收了三百多元，来电人认为酒店宰客。"),
        (C, "中秋节前月饼礼盒越卖越贵，一盒里面就四个月饼，包装比月饼还贵，希望管一管这种价格。"),
    ],
    "special-equipment": [
        (R, "市民来电反映：其所住小区的一部电梯近一个月内三次困人，昨天一名老人被困四十分钟，物业只是简单重启，没有彻底维修，来电人要求特种设备部门检查。"),
        (R, "商场的扶梯跑着跑着突然倒转了 好几个人摔倒 现在还在用"),
        (C, "尊敬的市长：我们小区的电梯已经用了十八年，经常停在两层中间，年检照样通过，请问电梯达到多少年限必须更换？"),
        (R, "标题：游乐设施异响\n内容：生态乐园里的大摆锤运行时有很大的金属摩擦声，座椅的安全压杠也有点松，孩子们还在排队玩。"),
        (Q, "请问工厂里的叉车要办什么证，司机需要持证上岗吗？"),
        (R, "来电人称其所在写字楼的货梯门经常关不严就运行，有一次门还没关好就往下走，来电人担心出事。", "城南新区三清街道"),
    ],
    "business-registration": [
        (Q, "市民来电咨询：其想在家开一家网店，询问是否需要办理营业执照，个人网店办照需要哪些材料。"),
        (Q, "开了个小卖部 营业执照上的地址搬了 要不要重新办 还是改一下就行"),
        (C, "尊敬的领导：我发现自己的身份证被人冒用注册了一家公司，我成了法定代表人，现在公司欠了税，我根本不知情，请求撤销登记。"),
        (Q, "标题：个体户注销流程\n内容：我的小饭店已经不开了，想把个体工商户营业执照注销掉，需要先去税务还是先去市场监管局？"),
        (Q, "来电人称其在政务服务中心办理公司法定代表人变更，窗口人员要求所有股东到场签字，但有一名股东在国外无法回来，来电人询问能否网上签字。"),
        (Q, "我想把营业执照的经营范围加一项卖酒的，网上怎么改？"),
    ],
    "wage-arrears": [
        (H, "市民来电反映：其与二十多名农民工在临泉县某小区工地干活，包工头拖欠半年工资共计四十多万元，年底了仍不支付，请求帮助讨薪。"),
        (H, "在厂里干了五个月 老板跑了 工资一分没拿到 厂门都锁了"),
        (C, "尊敬的市长：我在一家装修公司做水电工，公司以项目没结算为由拖了我一万二的工钱，我家孩子上学等着用钱，恳请帮忙。另外公司也一直没给我交社保。"),
        (C, "标题：离职后工资不发\n内容：我上个月从一家超市辞职，按规定提前一个月打了报告，可是超市扣着最后一个月的工资不发，说要等新人来了再说。"),
        (C, "来电人称其在某镇的养殖场做饲养员，老板以效益不好为由，连续四个月只发一半工资，剩下的说年底结，来电人担心拿不到。", "颍东区袁寨镇"),
        (Q, "请问欠薪了去劳动监察投诉要准备什么材料，没签合同能投诉吗？"),
    ],
    "social-insurance": [
        (Q, "市民来电咨询：其在外省缴纳了十年养老保险，现在回阜阳工作，询问如何把养老保险关系转回来，缴费年限能否合并计算。"),
        (Q, "灵活就业交社保一年多少钱 能按最低档交吗"),
        (C, "尊敬的领导：我父亲每年都要做养老金领取资格认证，今年手机上的人脸识别一直通不过，老人眼睛不好，去社保大厅排队又要半天，希望能上门认证。"),
        (C, "标题：单位不给交社保\n内容：我在一家物流公司上班两年了，公司一直说试用期不交社保，到现在也没给交，请问我该怎么维权？"),
        (Q, "来电人咨询：其丈夫在工作中受伤，单位已经申报了工伤，询问工伤保险待遇包括哪些，多久能拿到。"),
        (C, "来电人称其退休手续办了三个月养老金还没发，社保部门说档案里的出生日期有两个版本要核查，来电人不知道还要等多久。", "颍上县"),
    ],
    "employment": [
        (Q, "市民来电咨询：其大学毕业两年还未找到工作，听说有针对离校未就业高校毕业生的技能培训和见习岗位，询问如何报名。"),
        (Q, "想回老家开个小超市 听说有创业担保贷款 利息政府贴 去哪申请"),
        (C, "尊敬的市长：我参加了人社部门组织的免费电工培训，培训结束说好发职业技能证书，到现在四个月了还没发，找培训学校也推脱。"),
        (Q, "标题：失业保险金领取\n内容：我被公司裁员了，交了五年的失业保险，请问能领多长时间的失业金，每个月多少？"),
        (S, "建议多举办一些面向中老年人的招聘会，我们五十多岁的人找工作太难了，现在的招聘会基本都要三十五岁以下的。"),
        (Q, "来电人称其通过镇里的劳务输出组织到外地务工，到了以后发现工作内容和宣传的不一样，想回来找工作，询问县里有没有就近就业的岗位。", "临泉县"),
    ],
    "labour-contract": [
        (C, "市民来电反映：其在某电子厂上班，工厂每天要求加班三到四个小时，加班费却按正常工资的一半计算，来电人要求劳动监察部门查处。"),
        (C, "怀孕了公司就让我走人 说是岗位调整 一分钱补偿不给"),
        (Q, "尊敬的领导：我在一家公司试用期快满了，公司说要再延长三个月试用期，请问这样合法吗？"),
        (C, "标题：公司不签劳动合同\n内容：入职快一年了，公司一直不和我们签劳动合同，说签了要交社保不划算，现在想离职不知道能不能要求双倍工资。"),
        (C, "来电人称其在某酒店工作时因迟到两次被扣了一个月的工资，来电人认为公司的规章制度不合理。"),
        (Q, "请问公司要求签竞业限制协议但不给补偿金，这个协议有效吗？"),
    ],
    "enrolment": [
        (Q, "市民来电咨询：其孩子随父母在颍州区务工，户籍在外省，询问随迁子女上公办小学需要准备哪些材料，何时报名。"),
        (C, "我们小区明明划在实验小学的学区 今年突然划到另一个学校了 买房就是冲着学区来的"),
        (C, "尊敬的市长：我家孩子今年该上幼儿园了，家附近的公办幼儿园报名当天就满了，剩下的只有民办的，一学期要六七千，普通家庭负担不起，希望增加公办学位。另外，幼儿园门口那段路没有红绿灯，接送孩子很危险。"),
        (Q, "标题：转学手续办理\n内容：我们一家刚从外地搬到阜阳，孩子读四年级，想转到家附近的小学，请问需要原学校出什么证明，学校不接收怎么办？"),
        (C, "来电人称其孩子户口在太和县某镇，但家里常住县城，去城区学校报名被拒，要求回户籍地上学，来电人希望教育部门协调。"),
        (Q, "残疾孩子能不能随班就读？我们想让孩子上普通小学，学校说要评估。"),
    ],
    "education-fees": [
        (C, "市民来电反映：其孩子就读的初中要求每个学生购买指定的教辅资料，一学期三百多元，不买的学生被老师点名批评。"),
        (C, "学校食堂一顿饭收十二块 就一个荤菜还全是肥肉 不让在外面订饭"),
        (C, "尊敬的领导：我们孩子上的幼儿园今年保教费涨了三百元，也没有提前公示，问园长说是教育局批的，请问有没有这回事？"),
        (C, "标题：学校强制收取校服费\n内容：学校要求每个新生买四套校服，一共八百多元，以前买过的也不能穿，只能买指定厂家的。"),
        (Q, "请问学校收取的课后服务费是自愿的吗？老师说不参加的学生下午四点就要接走，我们上班接不了。"),
        (C, "来电人称其孩子所在高中以补课为名每月收取四百元资料费，实际就是周末上课，来电人认为属于违规收费。", "界首市"),
    ],
    "off-campus-training": [
        (R, "市民来电反映：其小区一楼有人开办托管班，每天接送几十个小学生，实际是在上语文数学课，没有办学许可证，也没有消防设施。"),
        (C, "报的英语班交了一年学费 才上了两个月 机构就说要搬迁 电话都打不通了"),
        (R, "尊敬的市长：我了解到孩子学校有几位老师在外面开补习班，暗示学生去上课，上了的学生考试前能拿到复习重点，这对其他孩子不公平。"),
        (C, "标题：培训机构退费难\n内容：给孩子报了美术班，交了八千元，孩子不想学了要退剩下的课时费，机构说合同规定一律不退。"),
        (Q, "请问怎么查一家培训机构有没有办学许可证？"),
        (R, "来电人称颍上县南照镇一家补习班在周末和寒假期间给中小学生上学科课，一个教室挤了五十多个孩子。"),
    ],
    "school-safety": [
        (C, "市民来电反映：其孩子在学校被几名高年级学生多次勒索零花钱，还被打伤，班主任只是批评教育，没有通知家长，来电人要求学校严肃处理。"),
        (C, "学校的校车超载 一辆小面包挤了十几个孩子 司机还边开边打电话"),
        (C, "尊敬的领导：孩子所在学校的教学楼走廊栏杆只有一米高，有一段还松动了，孩子们课间经常在那里打闹，希望尽快维修加高。"),
        (C, "标题：学生作业太多睡眠不足\n内容：孩子上初二，每天作业写到晚上十二点，早上六点就要起床，学校还要求家长每天在群里打卡批改作业。"),
        (C, "来电人称其孩子在学校体育课上中暑晕倒，老师没有及时通知家长也没送医，来电人认为学校处置不当。"),
        (S, "建议学校放学时错峰离校，现在所有年级同一时间放学，校门口挤得水泄不通，很不安全。", "颍州区"),
    ],
    "medical-service": [
        (C, "市民来电反映：其母亲在某医院做了膝关节手术，术后感染住院一个多月，医院拒绝承认是手术问题，来电人要求卫健部门调查。"),
        (C, "在医院排了三个小时的队 医生看了不到两分钟就开了一堆检查 也不解释"),
        (C, "尊敬的市长：我们颍上县垂岗乡卫生院晚上只有一个值班医生，上次我父亲半夜胸口疼送过去，医生说看不了让转院，耽误了一个多小时，希望加强乡镇卫生院的夜间值班力量。"),
        (P, "标题：感谢妇女儿童医院产科医护人员\n内容：我在阜阳市妇女儿童医院生孩子时大出血，产科的医生护士连夜抢救，保住了我和孩子，特此感谢。"),
        (C, "来电人称其在某民营医院做的检查，结果与公立医院的差别很大，怀疑该医院夸大病情诱导治疗，来电人要求查处。"),
        (Q, "请问在网上预约的专家号过了时间没去看，退号要在哪里退？以后还能不能挂号？"),
    ],
    "medical-insurance": [
        (Q, "市民来电咨询：其在上海打工期间住院，医保是在阜阳参的居民医保，询问异地就医备案怎么办理，没备案能不能回来报销。"),
        (Q, "明年的居民医保开始交了吗 一个人交多少 在手机上哪里交"),
        (C, "尊敬的领导：我父亲是高血压和糖尿病患者，已经办了慢特病卡，可是在社区医院拿药时说这个药不在目录里，只能自费，请问慢特病用药目录在哪里查？"),
        (R, "标题：药店刷医保卡买生活用品\n内容：我发现小区门口的药店可以用医保卡买洗衣液和米面油，这不是在套取医保基金吗？"),
        (Q, "来电人称其孩子出生后办理医保参保，被要求先上户口，但户口要等几个月，询问孩子这期间住院的费用能否补报。"),
        (Q, "请问城乡居民医保门诊报销一年最多报多少？在村卫生室看病能不能报？"),
    ],
    "vaccination": [
        (Q, "市民来电咨询：其被邻居家的狗咬伤，询问狂犬疫苗在哪里可以打，需要打几针，能否用医保报销。"),
        (C, "社区医院约不上九价 每次放号一分钟就没了 到底有没有货"),
        (C, "尊敬的领导：我的孩子接种证丢了，去接种门诊补办，被告知要回出生地开证明，我们出生地在外省，来回太不方便了。"),
        (Q, "标题：老人接种肺炎疫苗\n内容：听说六十岁以上老人可以免费接种肺炎疫苗，请问在哪里预约，需要带什么证件？"),
        (C, "来电人称其孩子在乡镇卫生院接种疫苗后出现高烧和红肿，卫生院让其观察，来电人询问是否属于接种异常反应，由谁负责鉴定。"),
        (Q, "孩子上小学要查验预防接种证，漏打了一针乙脑疫苗，现在补种来得及吗？"),
    ],
    "water-supply": [
        (C, "市民来电反映：颍东区某小区已经停水两天，供水公司事先没有任何通知，居民家中老人孩子无法正常生活，来电人要求尽快恢复供水。"),
        (C, "水龙头放出来的水是黄的 放半天才变清 烧开了还有沉淀"),
        (C, "尊敬的市长：我家这个月的水费突然变成三百多元，平时都是三四十元，家里也没有漏水，供水公司说水表没问题，请帮忙核实。另外，换水表时小区门口挖开的路面也一直没有恢复。"),
        (C, "标题：高层水压不足\n内容：我家住十八楼，一到早晚用水高峰水龙头就没水了，热水器点不着火，已经持续半年。"),
        (R, "来电人称其门口的路边自来水管爆裂，水流满了整条路，已经冲了两个小时，请供水公司赶快来关阀。"),
        (Q, "农村自来水改造以后要交初装费吗？我们村每户收了八百，说是县里定的。", "阜南县"),
    ],
    "power-supply": [
        (C, "市民来电反映：其所在村子晚上用电高峰时电压很低，电灯发暗，空调和冰箱都带不动，来电人要求供电部门更换变压器。", "临泉县"),
        (R, "小区门口的配电箱门一直开着 里面的电线都露在外面 小孩在旁边玩"),
        (C, "尊敬的领导：我们小区的电线是二十年前的老线，夏天经常跳闸，供电公司说是小区内部线路要物业改造，物业又说归供电公司，来回推诿。"),
        (R, "标题：高压线离房屋太近\n内容：我家房子旁边新架了一条高压线，离屋顶不到三米，下雨天能听到滋滋的响声，担心安全。"),
        (C, "来电人称其所在片区一周内停电四次，每次都没有提前通知，家里的冰箱和电脑都被烧坏了，来电人要求供电公司赔偿。", "颍上县八里河镇"),
        (Q, "家里想装光伏发电并网，要找供电所办什么手续？"),
    ],
    "gas-supply": [
        (R, "市民来电反映：其家厨房的燃气表附近有明显的燃气味，已关闭总阀并开窗通风，请燃气公司立即派人上门检修。"),
        (C, "燃气公司上门安检 非要我们换他们卖的软管和报警器 不换就停气"),
        (C, "尊敬的市长：我们小区交房五年了，燃气开户费每户收了三千多元，请问这个收费有没有依据，别的城市都已经取消了。"),
        (Q, "标题：燃气卡丢失\n内容：家里的燃气表是插卡的，卡丢了买不了气，请问怎么补卡，需要带什么材料？"),
        (C, "来电人称其所在村已经通了天然气管道，但燃气公司迟迟不给开通，来电人冬天只能烧煤，要求燃气公司尽快通气。", "颍州区三合镇"),
        (C, "来电人称燃气公司施工挖断了小区的燃气管道后一直未修复，整栋楼已经停气三天。"),
    ],
    "drainage": [
        (C, "市民来电反映：其居住的颍州区城中村只有一条排水沟，沟里的淤泥堆了半米多厚，雨一大污水就漫到路上，居民进出要蹚水，来电人要求疏通清淤。"),
        (R, "路中间的井盖不见了 就剩个黑洞 晚上骑车的看不见"),
        (C, "尊敬的领导：我们小区门口的污水井经常往外冒污水，臭气熏天，报了好几次，疏通以后过几天又冒，请求彻底解决。"),
        (C, "标题：雨水篦子堵塞\n内容：这条路的雨水篦子全被树叶和垃圾堵住了，一下雨路边就成了小河，建议定期清理。"),
        (R, "来电人称其所在路段的雨水井盖破损下陷，已经有车辆轮胎卡进去，来电人要求尽快更换。"),
        (C, "来电人称其家门口的下水道被附近饭店倒的油污堵死了，一到傍晚就冒出难闻的气味，来电人要求排水部门清掏并管一管倒油的饭店。"),
    ],
    "telecom": [
        (C, "市民来电反映：其所在的颍上县黄桥镇某村手机信号很差，在家里打电话要跑到院子里才有信号，来电人要求运营商增设基站。"),
        (C, "宽带又断了 报修三天没人来 月租一分不少扣"),
        (C, "尊敬的市长：我父亲七十多岁，营业厅的工作人员给他办了一个一百九十九元的套餐，说是免费送手机，现在每个月扣费很多，老人根本用不了这么多流量。"),
        (C, "标题：携号转网被拒\n内容：我想把手机号转到另一家运营商，原运营商说我有合约没到期不能转，但我从来没有签过什么合约。"),
        (R, "来电人称其小区楼道里的通信线缆杂乱垂落，有的已经掉到地上，居民进出经常被绊到。"),
        (C, "来电人称其办理宽带时被承诺免费送电视，实际每月多收三十元的电视费，来电人要求退还。", "界首市东城街道"),
    ],
    "social-assistance": [
        (H, "市民来电反映：其丈夫去年因病去世，本人患有慢性病无法工作，两个孩子在上学，家庭生活困难，询问能否申请低保或临时救助。"),
        (C, "我们村那个低保户家里盖了三层楼 儿子开着小汽车 真正困难的却评不上"),
        (H, "尊敬的领导：我是一名残疾人，一直靠打零工生活，最近手术花了三万多，医保报销后还欠一万多，恳请政府给予临时救助。"),
        (C, "标题：低保被取消\n内容：我家的低保今年突然被取消了，村里说是大数据比对发现我儿子名下有车，可那辆车早就卖了，没有过户而已。"),
        (Q, "请问特困人员供养的条件是什么？我们村有个老人无儿无女，七十多岁了，能不能申请？", "太和县"),
        (R, "来电人称其在路边看到一名智力障碍的男子，衣衫单薄，说不清家在哪里，已经在附近流浪好几天，请求救助站接走。"),
    ],
    "elderly-care": [
        (Q, "市民来电咨询：其父亲今年八十一岁，询问高龄津贴的发放标准和申请手续，是否需要每年认证。"),
        (C, "社区的老年食堂开了三个月就关了 我们这些老人又得自己做饭"),
        (C, "尊敬的市长：我母亲住的西湖镇一家民营养老院，收费一年比一年高，伙食却越来越差，护工也经常换，老人身上长了褥疮都没人发现，请民政部门检查。"),
        (Q, "标题：居家养老服务申请\n内容：我父亲卧床多年，我们听说政府有居家养老上门服务，比如助浴、理发，请问怎么申请，要不要收费？"),
        (S, "建议在小区里多设置一些老年人日间照料中心，现在很多老人白天子女上班，一个人在家很不安全。"),
        (P, "来电人称其所在镇的敬老院院长和护理人员对老人非常照顾，逢年过节还组织活动，来电人特意来电表扬。", "阜南县"),
    ],
    "marriage-registration": [
        (Q, "市民来电咨询：其与外籍男友准备结婚，询问涉外婚姻登记需要在哪里办理，外方需要提供哪些经过认证的材料。"),
        (Q, "结婚证丢了 去哪里补 户口不在一个地方能补吗"),
        (C, "尊敬的领导：我们在网上预约了情人节当天登记结婚，到了婚姻登记处说系统故障不能办，让我们改天，我们请了假还从外地赶回来的。"),
        (Q, "标题：离婚冷静期\n内容：请问协议离婚现在是不是要等三十天冷静期？冷静期内一方反悔怎么办？"),
        (C, "来电人称其父母当年结婚时登记信息中的出生日期有误，现在办理其他业务时对不上，婚姻登记处称需要原始档案才能更正，来电人不知道档案在哪里。"),
        (Q, "请问婚姻登记处周六上班吗？现在领结婚证还需要户口本吗？"),
    ],
    "agri-inputs": [
        (C, "市民来电反映：其在镇上农资店购买的小麦种子，播种后出苗率不到三成，同一批买种子的十几户都是这样，来电人要求农业部门检测种子质量。", "界首市"),
        (C, "打了店里推荐的除草剂 结果把我家的玉米苗全打死了 老板说是我用量不对"),
        (R, "尊敬的领导：最近有人开着车到村里卖化肥，说是进口复合肥，价格比店里便宜一半，好几户买了以后发现肥料结块，怀疑是假化肥。"),
        (C, "标题：农药标签看不清\n内容：买的杀虫剂包装上的使用说明全是英文，也没有农药登记证号，打了以后虫一点没死。"),
        (Q, "请问怎么辨别买到的化肥是不是正规产品？包装上哪些信息必须要有？"),
        (C, "来电人称其购买的西瓜嫁接苗长到一半就大面积枯死，卖苗的人说是天气原因，来电人怀疑苗子带病。", "颍东区"),
    ],
    "farmland": [
        (C, "市民来电反映：其家的承包地在土地确权时面积少登记了一亩多，和邻居的地界也划错了，多次找村委会要求更正无果。", "颍泉区行流镇"),
        (C, "把地流转给合作社 说好每年每亩八百 今年一分钱没给 合作社的人也找不到了"),
        (C, "尊敬的市长：我家常年在外打工，回来发现承包地被村里收回转包给了别人，也没有跟我们商量，请求依法归还我家的承包经营权。"),
        (Q, "标题：土地流转合同到期\n内容：我们村的土地流转合同明年到期，承包方想续签但只愿意出原来的价钱，村民想涨租金，请问这个价格有没有参考标准？"),
        (C, "来电人称其与邻村村民因承包地边界发生纠纷，对方在其地里打了界桩，来电人要求镇里组织勘界。", "阜南县柳沟镇"),
        (C, "来电人称其流转出去的耕地被承包方挖成了鱼塘，合同到期后无法复耕，来电人要求恢复原状。"),
    ],
    "farm-subsidies": [
        (Q, "市民来电咨询：其今年购买了一台小麦收割机，询问农机购置补贴怎么申请，补贴款多久能到账。"),
        (C, "耕地地力补贴我家三亩地只发了一亩多的钱 问村里说按确权面积 可确权证上就是三亩"),
        (C, "尊敬的领导：村干部把种粮大户的补贴发到了自己亲戚的账户上，实际种地的人却没拿到，请上级部门调查。"),
        (Q, "标题：大棚种植补贴\n内容：我准备建几个蔬菜大棚，听说县里对设施农业有补贴，请问标准是多少，去哪个部门申请？"),
        (C, "来电人称其购买农机补贴目录内的播种机已经半年，补贴申请一直显示待审核，经销商称是县农业部门没有资金，来电人要求尽快发放。", "太和县"),
        (Q, "家里养了几十头牛，有没有养殖方面的补贴？"),
    ],
    "household-registration": [
        (Q, "市民来电咨询：其孩子在外省出生，父母都是阜阳户口，询问新生儿落户需要准备哪些材料，能否网上办理。"),
        (C, "身份证丢了去补办 派出所说照相机坏了 让我过几天再来 都跑三趟了"),
        (Q, "尊敬的领导：我大学毕业后户口一直挂在学校，现在回阜阳工作，想把户口迁回家里，请问需要哪些手续？"),
        (C, "标题：户口本上名字错了\n内容：我户口本上名字里有个字写错了，和身份证、学历证书都不一致，派出所说要提供出生证明，可我是在家里出生的，没有出生证明。"),
        (Q, "来电人咨询：其在阜阳租房居住已满半年，想办理居住证以便孩子上学，询问需要哪些材料，多久能拿到。"),
        (C, "来电人称其家孩子上户口时被要求做亲子鉴定，理由是出生证明上的父亲姓名与户口本不一致，来电人认为是登记错误，不应做鉴定。", "临泉县"),
    ],
    "neighbourhood-noise": [
        (C, "市民来电反映：其小区楼下广场每晚有人跳广场舞，音响开得很大，一直跳到晚上十点，家里孩子要上网课，来电人多次劝说无果。"),
        (C, "楼上天天半夜拖椅子 剁东西 砸地板 上去敲门也不开"),
        (C, "尊敬的市长：我家对面有户人家在阳台上养了几十只鸡鸭，每天天不亮就叫，还养了两条狗，整夜狂吠，严重影响休息。"),
        (C, "标题：商铺门口大喇叭叫卖\n内容：小区底商的手机店每天在门口用大喇叭循环播放促销广告，从早上八点到晚上九点，住户苦不堪言。"),
        (C, "来电人称其隔壁邻居装修，周末和中午也在电钻施工，来电人与其沟通后对方态度恶劣。"),
        (C, "来电人称其所在村有户人家办丧事，连续三天请了乐队吹吹打打到深夜，附近村民无法休息。", "颍上县"),
    ],
    "land-use": [
        (R, "市民来电反映：颍东区某村有人在耕地上私自建了一个大型养殖棚，占地十多亩，没有看到任何审批手续，来电人要求自然资源部门核查。"),
        (R, "河滩上有人晚上开着挖掘机挖沙 大车一车一车往外拉 河堤都挖塌了"),
        (C, "尊敬的领导：邻居在其宅基地外又占了村里的集体土地盖房子，把我家出行的路堵了一半，村干部说他有关系管不了，请依法处理。"),
        (R, "标题：林地被毁\n内容：村后的一片林地被人砍光了，现在推平了准备建厂房，听说这片林地是生态公益林。"),
        (Q, "请问农村宅基地申请建房需要哪些手续？一户能批多大面积？"),
        (R, "来电人称其村附近的一处土坡被人长期取土，已经挖出了一个十几米深的大坑，雨季积水很深，担心孩子掉进去。", "界首市"),
    ],
    "real-estate-registration": [
        (Q, "市民来电咨询：其父母去世后留下一套房子，兄妹三人协商由其继承，询问办理继承过户需要哪些材料，是否必须公证。"),
        (Q, "房贷还完了 银行给了个结清证明 抵押注销要去哪办 要多久"),
        (C, "尊敬的市长：我在不动产登记中心办理二手房过户，窗口说系统升级要等一周，一周后又说要补交一份材料，前前后后跑了四趟，买方已经要求我承担违约责任。"),
        (Q, "标题：夫妻房产加名\n内容：婚前买的房子想在房产证上加上爱人的名字，请问需要交哪些税费，去哪里办理？"),
        (C, "来电人称其购买的二手房过户后，发现不动产证上的面积与原房产证不一致，登记中心称以测绘为准，来电人要求说明依据。"),
        (Q, "来电人咨询：其农村的房屋能否办理不动产权证，办了以后能不能抵押贷款。", "颍州区"),
    ],
    "service-conduct": [
        (C, "市民来电反映：其到社区居委会开具居住证明，工作人员以主任不在为由拒绝盖章，让其下周再来，来电人认为工作人员推诿。", "颍东区河东街道"),
        (C, "村里的网格员上门登记信息 态度凶得很 问多了就说不登记以后啥都办不了"),
        (C, "尊敬的领导：我们太和县宫集镇政府的办事窗口上班时间经常没人，工作人员九点多才到，下午四点就走了，老百姓跑一趟办不成事。"),
        (C, "标题：村委会不作为\n内容：我们村的路灯坏了、沟渠堵了，反映给村委会，村干部总说没钱、上面不管，一年了什么也没干。"),
        (P, "来电人表扬其所在街道便民服务中心的工作人员，为其行动不便的母亲上门办理养老认证，服务热情周到。"),
        (C, "来电人称其向村委会申请开具家庭困难证明，村支书要求其先请客吃饭才给办，来电人要求查处。"),
    ],
    "business-environment": [
        (C, "市民来电反映：其公司承接了某镇政府的道路工程，已经竣工验收两年，镇政府仍拖欠工程款八十多万元，企业资金周转困难。"),
        (C, "我们厂招商引资进来的时候说好的电价优惠和奖补 到现在一分没兑现 换了领导就不认了"),
        (C, "尊敬的市长：我们是一家小微企业，申请了市里的创业补贴和技改奖补，材料交上去快一年了，各个部门都说在走流程，希望能给个明确答复。"),
        (C, "标题：多头检查影响经营\n内容：我们公司一个月内接待了五拨检查，消防、环保、安监轮流来，每次都要停产配合，希望检查能合并进行。"),
        (Q, "请问小微企业申请贷款贴息的政策在哪里能查到？有没有专门的窗口？"),
        (C, "来电人称其企业在办理项目用地手续时，相关部门要求提供的材料反复变化，一年多仍未办下来，企业认为营商环境有待改善。", "颍州区"),
    ],
    "admin-approval": [
        (C, "市民来电反映：其在政务服务中心办理食品经营许可证，排队取号两小时，到窗口后被告知材料需要提前网上预审，又要重新排队。"),
        (C, "皖事通上办的业务显示已通过 去窗口拿证又说系统里没有 白跑一趟"),
        (S, "尊敬的领导：建议政务服务中心周末开放部分窗口，我们上班族工作日请假很难，很多业务只能线下办理。"),
        (Q, "标题：网上办事流程\n内容：请问开办一家小餐馆，能不能在网上一次性把营业执照、食品经营许可和消防手续都办了？"),
        (C, "来电人称其在政务服务大厅办理道路运输许可证，窗口工作人员一次性告知不全，前后让其补充了四次材料。"),
        (C, "来电人称阜南县政务服务中心的自助终端经常死机，叫号系统也常出问题，群众办事要等很久。"),
    ],
}


NEAR = 0.4  # the generator's NEAR_DUPLICATE
# The requests written with a second, lesser matter (the rest carry one matter).
SECOND_MATTER = frozenset({"property#1", "city-appearance#0", "bus#0", "noise#2",
                           "wage-arrears#2", "enrolment#2", "water-supply#2"})


def labelled(entries: dict[str, list[tuple[str, ...]]], name: str) -> list[LabelledRequest]:
    """A hand-written part's entries (subcategory -> (type, text[, address])) as labelled
    requests, case "<name>:<subcategory>#<k>", split <name> (in no other part; never trained
    on). The fifth part (`fifth.py`) reads its entries with this too."""
    from tools.recognition.banks import DEFAULT_URGENCY

    parent = {s["code"]: c["code"] for c in load_json("taxonomy.json")["categories"]
              for s in c["subcategories"]}
    out = []
    for sub, rows in entries.items():
        for k, (kind, text, *rest) in enumerate(rows):
            address = rest[0] if rest else ""
            urgency = "simple" if kind == Q else DEFAULT_URGENCY.get(sub, "general")
            out.append(LabelledRequest(
                case=f"{name}:{sub}#{k}", text=text, category=parent[sub], subcategory=sub,
                request_type=kind, urgency=urgency, county="", subdistrict="", address=address,
                split=name))
    return out


def fourth_requests() -> list[LabelledRequest]:
    """The entries above as labelled requests (split "fourth": in no other part; never
    trained on)."""
    return labelled(FOURTH, "fourth")


def digest_of(part: list[LabelledRequest]) -> str:
    """A fingerprint of a part (case, text, address, labels)."""
    rows = [[r.case, r.text, r.address, r.category, r.subcategory, r.request_type, r.urgency]
            for r in part]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


def digest() -> str:
    """A fingerprint of the part (case, text, address, labels): the read prints it, so a
    label changed after the read shows."""
    return digest_of(fourth_requests())


def _others() -> list[tuple[str, set[str]]]:
    """Every text this part must not copy: the banks' matters (train, generated test part and
    set-aside alike), the training-only matters, the second part and the third."""
    from tools.recognition.banks import BANKS, TRAIN_ONLY
    from tools.recognition.fresh import fresh_requests
    from tools.recognition.generate import _bigrams
    from tools.recognition.third import third_requests

    out = [(f"{'test' if k % 4 == 3 else 'train'}:{sub}#{k}", _bigrams(c[2]))
           for sub, cores in BANKS.items() for k, c in enumerate(cores)]
    out += [(f"train:{sub}#t{k}", _bigrams(c[2])) for sub, cores in TRAIN_ONLY.items()
            for k, c in enumerate(cores)]
    out += [(r.case, _bigrams(r.text)) for r in fresh_requests() + third_requests()]
    return out


def near_of(part: list[LabelledRequest], others: list[tuple[str, set[str]]],
            threshold: float = NEAR) -> list[tuple[str, str, float]]:
    """(case, other matter or request, Jaccard) for every request of `part` at least
    `threshold` close to one of `others`."""
    from tools.recognition.generate import _bigrams

    hits = []
    for r in part:
        mine = _bigrams(r.text)
        for case, theirs in others:
            j = len(mine & theirs) / len(mine | theirs)
            if j >= threshold:
                hits.append((r.case, case, round(j, 3)))
    return hits


def near_others(threshold: float = NEAR) -> list[tuple[str, str, float]]:
    """(fourth case, other matter or request, Jaccard) for every request here written almost as
    a matter of the train part, of the generated test part, or a request of the second or third
    part is (must be empty: such a request would measure recall, not reading)."""
    return near_of(fourth_requests(), _others(), threshold)


def closest_of(part: list[LabelledRequest],
               others: list[tuple[str, set[str]]]) -> dict[str, Any]:
    """How close a part comes to the rest: per request, the highest Jaccard against the other
    parts' matters, and against the labelled set's full records (its texts as trained on, with
    channel wrappers and places)."""
    import numpy as np

    from services.dispatch.domain.labelled import load_labelled_requests
    from tools.recognition.generate import _bigrams

    records = [_bigrams(r.text) for r in load_labelled_requests()]
    best_matter, best_record = [], []
    for r in part:
        mine = _bigrams(r.text)
        best_matter.append(max(len(mine & t) / len(mine | t) for _, t in others))
        best_record.append(max(len(mine & t) / len(mine | t) for t in records))
    return {"matter_median": float(np.median(best_matter)), "matter_max": max(best_matter),
            "record_median": float(np.median(best_record)), "record_max": max(best_record)}


def closest() -> dict[str, Any]:
    """How close the part comes to the rest (see `closest_of`)."""
    return closest_of(fourth_requests(), _others())


def describe_of(part: list[LabelledRequest], second_matter: frozenset[str]) -> dict[str, Any]:
    """What a part holds (no model): counts by type, form, place, second matter."""
    from collections import Counter

    from services.dispatch.domain.places import load_gazetteer

    gazetteer = load_gazetteer()
    forms = Counter("hotline" if r.text.startswith(("市民来电", "来电人")) else
                    "letter" if r.text.startswith("尊敬的") else
                    "web form" if r.text.startswith("标题：") else
                    "wechat" if not any(p in r.text for p in "，。？！：") else "other"
                    for r in part)
    typed = sum(bool(r.address) for r in part)
    in_words = sum(not r.address and gazetteer.from_words(address="", text=r.text).county is not None
                   for r in part)
    return {"n": len(part), "subcategories": len({r.subcategory for r in part}),
            "per_subcategory_min": min(Counter(r.subcategory for r in part).values()),
            "types": dict(Counter(r.request_type for r in part)), "forms": dict(forms),
            "address_typed": typed, "place_in_words_found": in_words,
            "second_matter": sum(r.case.split(":", 1)[1] in second_matter for r in part)}


def describe() -> dict[str, Any]:
    """What the part holds (no model): counts by type, form, place, second matter."""
    return describe_of(fourth_requests(), SECOND_MATTER)


def read_parts(parts: dict[str, list[LabelledRequest]], focus: str, draws: int = 2000,
               pools: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """The shipped model as the service scores it, once per part; the `focus` part's errors,
    dispatcher list and per-category table in detail; each pool (name -> parts) resampled
    together (2,000 draws of matters, seed 20261206)."""
    import numpy as np

    from services.dispatch.domain.linear import LinearClassifier, load_linear_model
    from services.dispatch.domain.places import load_gazetteer
    from services.dispatch.domain.responsibilities import load_responsibilities
    from services.dispatch.domain.routing import load_routing_table, unit_confidence
    from services.dispatch.domain.taxonomy import load_taxonomy
    from tools.recognition.pooled import SEED, draws_of, figures
    from tools.recognition.train import route_key

    clf = LinearClassifier(load_taxonomy(), load_linear_model(),
                           blank_places=load_gazetteer().without_places,
                           duties=load_responsibilities())
    table = load_routing_table(2)
    lead = replace(table, second_matter="lead")
    key = route_key()
    out: dict[str, Any] = {"threshold": clf.threshold, "draws": draws, "seed": SEED, "parts": {}}
    scored: dict[str, dict[str, list[Any]]] = {}
    for name, requests in parts.items():
        results = [clf.classify(r.text, address=r.address) for r in requests]
        sure = np.array([unit_confidence(c, table) for c in results])
        auto = sure >= clf.threshold
        right = np.array([key[c.subcategory] == key[r.subcategory]
                          for c, r in zip(results, requests, strict=True)])
        cases = [r.case for r in requests]
        w = draws_of(cases, draws)
        row: dict[str, Any] = dict(figures(w, auto, right))
        lead_auto = np.array([unit_confidence(c, lead) for c in results]) >= clf.threshold
        row["lead"] = figures(w, lead_auto, right)
        if name == focus:
            row["wrong"] = [
                {"case": r.case, "label": r.subcategory, "predicted": c.subcategory,
                 "unit": key[r.subcategory], "sent_to": key[c.subcategory],
                 "confidence": round(float(s), 3), "text": r.text}
                for r, c, s, a, g in zip(requests, results, sure, auto, right, strict=True)
                if a and not g]
            row["to_dispatcher"] = [
                {"case": r.case, "predicted": c.subcategory, "confidence": round(float(s), 3),
                 "second_matter": bool(c.other_matters), "right_unit": bool(g)}
                for r, c, s, a, g in zip(requests, results, sure, auto, right, strict=True)
                if not a]
            per: dict[str, dict[str, int]] = {}
            for r, a, g in zip(requests, auto, right, strict=True):
                d = per.setdefault(r.category, {"n": 0, "routed": 0, "wrong": 0})
                d["n"] += 1
                d["routed"] += int(a)
                d["wrong"] += int(a and not g)
            row["per_category"] = per
            row["unit_accuracy_all"] = float(right.mean())
            row["subcategory_accuracy"] = float(np.mean(
                [c.subcategory == r.subcategory for c, r in zip(results, requests, strict=True)]))
        out["parts"][name] = row
        scored[name] = {"cases": cases, "auto": list(auto), "right": list(right), "lead": list(lead_auto)}
    for pool, members in (pools or {"pooled": tuple(parts)}).items():
        cases = [c for m in members for c in scored[m]["cases"]]
        w = draws_of(cases, draws)
        row = dict(figures(w, np.array([a for m in members for a in scored[m]["auto"]]),
                           np.array([g for m in members for g in scored[m]["right"]])))
        row["lead"] = figures(w, np.array([a for m in members for a in scored[m]["lead"]]),
                              np.array([g for m in members for g in scored[m]["right"]]))
        out["parts"][pool] = row
    return out


def read(draws: int = 2000) -> dict[str, Any]:
    """The rule of docs/recognition.md "Session 14": the shipped model as the service scores
    it, once, on this part; and, for the record, on the four held-out parts pooled."""
    from services.dispatch.domain.labelled import load_labelled_requests, split
    from tools.recognition.fresh import fresh_requests
    from tools.recognition.third import third_requests

    fingerprint = digest()
    _, generated = split(load_labelled_requests())
    parts = {"generated": generated, "fresh": fresh_requests(), "third": third_requests(),
             "fourth": fourth_requests()}
    out = {"digest": fingerprint, **read_parts(parts, "fourth", draws)}
    out["digest_after"] = digest()
    return out


def verdict(f: dict[str, Any]) -> str:
    """The aim as the rule reads it: met (point figures), met clearly (intervals), not met."""
    to_dispatcher = 1 - f["auto"]
    met = to_dispatcher < 0.10 and f["auto_right"] >= 0.95
    clearly = met and (1 - f["auto_lo"]) < 0.10 and f["right_lo"] >= 0.95
    return "met clearly" if clearly else "met" if met else "not met"


def render(found: dict[str, Any]) -> str:
    lines = [f"fourth part digest {found['digest']} (after the read: {found['digest_after']}),"
             f" threshold {found['threshold']:.3f}, {found['draws']} resamplings",
             "| part | n | to a dispatcher (95 %) | routed right (95 %) | P(right < 95 %) |"
             " lead: to a dispatcher / right |", "|---|---|---|---|---|---|"]
    for name, f in found["parts"].items():
        lead = f.get("lead")
        lead_s = (f"{1 - lead['auto']:.1%} / {lead['auto_right']:.1%}" if lead else "")
        lines.append(f"| {name} | {f['n']} | {1 - f['auto']:.1%} ({1 - f['auto_hi']:.1%}–"
                     f"{1 - f['auto_lo']:.1%}) | {f['auto_right']:.1%} ({f['right_lo']:.1%}–"
                     f"{f['right_hi']:.1%}) | {f['below_target']:.0%} | {lead_s} |")
    fourth = found["parts"]["fourth"]
    lines += ["", f"aim on the fourth part: {verdict(fourth)}", "",
              "per category (n / routed / routed wrongly):"]
    lines += [f"  {c}: {d['n']} / {d['routed']} / {d['wrong']}"
              for c, d in sorted(fourth["per_category"].items())]
    lines += ["", "routed wrongly:"]
    lines += [f"  {w['case']} ({w['unit']}) -> {w['predicted']} ({w['sent_to']}, "
              f"{w['confidence']}): {w['text']}" for w in fourth["wrong"]]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tools.recognition.fourth")
    parser.add_argument("what", choices=("leak", "read"))
    parser.add_argument("--json", help="read: also write every figure to this file")
    args = parser.parse_args()
    if args.what == "leak":
        print(json.dumps({"digest": digest(), "near": near_others(), "closest": closest(),
                          **describe()}, ensure_ascii=False, indent=1))
    else:
        found = read()
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(found, f, ensure_ascii=False, indent=1)
        print(render(found))
