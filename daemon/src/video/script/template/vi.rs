//! Vietnamese copy of the template writer (NFC: every letter with its tone mark is one
//! code point).

use super::copy::{Copy, Describe, Presenter, Styled};

/// The Vietnamese phrasings.
pub(super) const COPY: Copy = Copy {
    hook: Styled {
        viral: &[
            "Khoan lướt đã! {product} đang hot thật sự đây.",
            "Ai cũng hỏi mình về {product}, hôm nay khoe luôn!",
            "Dừng lại một giây, {product} sẽ làm bạn bất ngờ!",
        ],
        review: &[
            "Mọi người ơi, hôm nay mình review thật {product} nha!",
            "Dùng {product} cả tuần rồi, giờ mình nói thật nè.",
            "Có nên mua {product} không? Mình test giúp bạn rồi.",
        ],
        story: &[
            "Mình từng nghĩ chẳng cần đến {product}, cho đến hôm ấy.",
            "Câu chuyện của mình với {product} bắt đầu rất tình cờ.",
            "Có một món nhỏ đã thay đổi ngày của mình: {product}.",
        ],
    },
    hook_point: Styled {
        viral: &["{Point}, đỉnh thật sự!", "Bí mật nằm ở đây: {point}."],
        review: &["Điểm mình thích nhất: {point}.", "Ăn tiền nhất là {point}."],
        story: &["Điều khác biệt là {point}.", "Tất cả nhờ {point}."],
    },
    idea_tail: Styled {
        viral: &["Nghe quen không?", "Ai cũng từng như vậy!"],
        review: &["Chắc nhiều bạn cũng vậy.", "Mình cũng từng như thế đó."],
        story: &["Mọi chuyện bắt đầu từ đó.", "Một ngày như bao ngày khác."],
    },
    problem: Styled {
        viral: &[
            "Mua đồ online mà về không như hình, ai từng bị chưa?",
            "Bạn đã chán những món đẹp mà dùng chẳng bao lâu?",
        ],
        review: &[
            "Mình từng mua nhiều món na ná rồi mà chưa ưng.",
            "Mình đã tìm mãi một món dùng thật sự ổn.",
        ],
        story: &[
            "Trước đây, ngày nào mình cũng loay hoay với chuyện nhỏ này.",
            "Có những phiền toái nhỏ mà ngày nào mình cũng gặp.",
        ],
    },
    point: Styled {
        viral: &[
            "{Point}, đỉnh chưa!",
            "Bí mật nằm ở đây: {point}.",
            "Không đùa đâu, {point} luôn!",
            "Nghe nè: {point}!",
        ],
        review: &[
            "Điểm mình thích nhất: {point}.",
            "Mình đã kiểm chứng: {point}, đúng như quảng cáo.",
            "{Point}, điểm này ăn tiền thật sự.",
            "Nói thật nha, mình rất ưng điểm này: {point}.",
        ],
        story: &[
            "Rồi mình nhận ra: {point}.",
            "Điều làm mình bất ngờ là {point}.",
            "Hóa ra bí quyết là {point}.",
            "Một điều nhỏ mà quý: {point}.",
        ],
    },
    point_more: Styled {
        viral: &["Thêm một lý do để mê: {point}.", "Chưa hết đâu, {point}!"],
        review: &[
            "Thêm một điểm cộng nữa: {point}.",
            "Tiếp theo mình kiểm tra: {point}.",
        ],
        story: &[
            "Từ hôm đó, mình yên tâm vì {point}.",
            "Rồi còn nữa: {point}.",
        ],
    },
    point_again: Styled {
        viral: &[
            "Nói lại lần nữa nè: {point}!",
            "Vẫn mê nhất chỗ này: {point}!",
        ],
        review: &[
            "Phải nhắc lại lần nữa: {point}.",
            "Nhớ kỹ điểm này nha: {point}.",
        ],
        story: &[
            "Mình vẫn nhớ mãi điều này: {point}.",
            "Lần nào cũng vậy: {point}.",
        ],
    },
    point_tail: Styled {
        viral: &[
            "Quá đã luôn!",
            "Ai dùng rồi cũng mê.",
            "Xem là muốn có ngay.",
        ],
        review: &[
            "Mình chấm mười điểm luôn.",
            "Dùng là thấy khác liền.",
            "Ưng cái bụng lắm luôn.",
        ],
        story: &[
            "Nhỏ thôi mà khác biệt lớn.",
            "Mình thấy yên tâm hẳn.",
            "Một niềm vui giản dị.",
        ],
    },
    point_plain: Styled {
        viral: &[
            "Nhìn cận cảnh {product} nè, chất lượng thấy rõ!",
            "Từng chi tiết của {product} đều xịn!",
            "{Desc}!",
        ],
        review: &[
            "Cận cảnh {product} cho mọi người xem kỹ nha.",
            "Hoàn thiện của {product} rất chỉn chu.",
            "{Desc}.",
        ],
        story: &[
            "Nhìn kỹ mới thấy {product} tinh tế hơn mình nghĩ.",
            "Từng chi tiết nhỏ đều được chăm chút.",
            "{Desc}.",
        ],
    },
    demo: Styled {
        viral: &[
            "Xem tận mắt nè, {product} làm được thế này đây!",
            "Thử ngay cho bạn xem, không cần nói nhiều!",
        ],
        review: &[
            "Test thực tế cho mọi người xem luôn nè.",
            "Mình dùng thử ngay trước ống kính nha.",
            "Xem kỹ nè, dùng thật chứ không diễn.",
        ],
        story: &[
            "Và đây là cách nó đồng hành cùng mình mỗi ngày.",
            "Mỗi ngày, nó lặng lẽ làm thật tốt phần việc của mình.",
        ],
    },
    demo_tail: Styled {
        viral: &["{Desc}!", "Đẳng cấp là đây!"],
        review: &["{Desc}.", "Kết quả nói lên tất cả."],
        story: &["{Desc}.", "Giản dị mà đáng tin."],
    },
    proof: Styled {
        viral: &[
            "Dùng rồi mới thấy đáng từng đồng!",
            "Ai thấy cũng hỏi mua ở đâu luôn!",
            "Càng dùng càng thấy rõ: {point}!",
        ],
        review: &[
            "Dùng mỗi ngày mà vẫn như mới.",
            "Sau nhiều ngày dùng, vẫn đúng như vậy: {point}.",
            "Bạn bè mượn thử xong ai cũng hỏi link.",
        ],
        story: &[
            "Giờ thì nó là món mình không thể thiếu.",
            "Ngày qua ngày, mình càng tin vào lựa chọn này.",
            "Mỗi lần dùng, mình lại thêm yêu nó.",
        ],
    },
    lifestyle: Styled {
        viral: &[
            "Đi làm, đi chơi hay ở nhà, {product} đều cân hết!",
            "Mang theo mọi lúc mọi nơi, chất lừ!",
        ],
        review: &[
            "Ở nhà hay ra ngoài, mình đều mang theo {product}.",
            "Giờ đi đâu mình cũng mang theo em này.",
        ],
        story: &[
            "Từ văn phòng đến những chuyến đi, nó luôn bên mình.",
            "Sáng, trưa hay chiều, nó vẫn ở đó cùng mình.",
        ],
    },
    offer: Styled {
        viral: &[
            "Chỉ {price} thôi, rẻ bất ngờ luôn!",
            "Giá chỉ {price}, nhanh tay kẻo hết!",
        ],
        review: &[
            "Giá chỉ {price}, quá hời cho chất lượng này.",
            "{price} cho một món xịn thế này, mình thấy đáng.",
        ],
        story: &[
            "Và tất cả chỉ với {price}.",
            "Chỉ {price}, cho một thay đổi nhỏ mà đáng giá.",
        ],
    },
    cta: Styled {
        viral: &[
            "Bấm giỏ hàng ngay, kẻo hết hàng là tiếc lắm!",
            "Chốt đơn liền tay, link ở ngay bên dưới!",
        ],
        review: &[
            "Link mình để ở giỏ hàng, mua ngay kẻo hết nha!",
            "Muốn thử thì bấm vào giỏ hàng bên dưới nha.",
        ],
        story: &[
            "Nếu bạn cũng cần điều đó, {product} đang chờ bạn.",
            "Bấm vào giỏ hàng để bắt đầu câu chuyện của bạn nhé.",
        ],
    },
    cta_price: Styled {
        viral: &[
            "Chỉ {price}, bấm giỏ hàng rinh {product} ngay!",
            "{product} chỉ {price}, chốt đơn liền tay!",
        ],
        review: &[
            "Chỉ {price} thôi, link ở giỏ hàng nha mọi người!",
            "Giá {price}, mình để link ở giỏ hàng rồi nha.",
        ],
        story: &[
            "Chỉ {price}, {product} đang chờ bạn ở giỏ hàng.",
            "Với {price}, câu chuyện của bạn bắt đầu từ giỏ hàng.",
        ],
    },
    single: Styled {
        viral: &["{product}: {point}!", "Đỉnh chưa, {product}: {point}!"],
        review: &[
            "Review nhanh {product}: {point}.",
            "{product}, điểm ăn tiền là {point}.",
        ],
        story: &["Mình chọn {product} vì {point}.", "{product}: {point}."],
    },
    single_plain: Styled {
        viral: &["{product} đây rồi, hot lắm!"],
        review: &["Review nhanh {product}: đáng mua nha."],
        story: &["Mình chọn {product}, và không hối hận."],
    },
    short_cta: Styled {
        viral: &["Bấm giỏ hàng ngay!"],
        review: &["Link ở giỏ hàng nha!"],
        story: &["Thử ngay nhé!"],
    },
    short_cta_price: Styled {
        viral: &["Chỉ {price}, mua ngay!"],
        review: &["Giá {price}, link ở giỏ hàng nha!"],
        story: &["Chỉ {price}, thử ngay nhé!"],
    },
    describe: Describe {
        hook: "Mở đầu: {host} giới thiệu {product} trước ống kính.",
        idea: "Tình huống: {idea}.",
        problem: "Phiền toái thường ngày trước khi có {product}.",
        point: "Điểm nổi bật: {point}.",
        point_plain: "Cận cảnh {product}.",
        demo: "{host} dùng thử {product} thực tế.",
        proof: "Kết quả sau nhiều ngày dùng {product}.",
        lifestyle: "{product} trong nhịp sống hằng ngày.",
        offer: "Giá bán: {price}.",
        cta: "Kêu gọi hành động: {host} mời người xem đặt mua {product}.",
        single: "{host} giới thiệu {product} và mời người xem đặt mua.",
    },
    caption: Styled {
        viral: &["{product}: {point}, đỉnh thật sự!"],
        review: &["Review thật {product}: {point}."],
        story: &["Câu chuyện nhỏ với {product}: {point}."],
    },
    caption_plain: Styled {
        viral: &["{product} đang hot, xem ngay!"],
        review: &["Review thật {product}, đáng mua nha."],
        story: &["Câu chuyện nhỏ với {product}."],
    },
    caption_price: "Chỉ {price}, đặt ngay ở giỏ hàng!",
    caption_order: "Đặt ngay ở giỏ hàng nhé!",
    thumbnail_price: "Chỉ {price}!",
    thumbnail: Styled {
        viral: &["Món hot nhất lúc này!"],
        review: &["Review thật, không quảng cáo!"],
        story: &["Chuyện nhỏ, thay đổi lớn"],
    },
    tags: Styled {
        viral: &["#xuhuong", "#viral", "#fyp"],
        review: &["#review", "#reviewsanpham", "#KOC"],
        story: &["#cauchuyen", "#storytime", "#cuocsong"],
    },
    market_tags: &["#muasamonline", "#TikTokShop"],
    presenters: [
        Presenter {
            name: "Khang",
            role: "người dẫn chính",
            look: "chàng trai 24 tuổi, tóc undercut đen, áo hoodie màu cam, tai nghe không dây màu trắng, giày sneaker trắng",
        },
        Presenter {
            name: "Mai",
            role: "KOC review sản phẩm",
            look: "cô gái 26 tuổi, tóc đen dài ngang vai, áo len mỏng màu kem, khuyên tai ngọc trai nhỏ, móng tay sơn hồng nhạt",
        },
        Presenter {
            name: "Lan",
            role: "người kể chuyện, cũng là khách hàng",
            look: "cô gái 28 tuổi, tóc búi thấp gọn gàng, áo sơ mi xanh nhạt, đồng hồ dây da nâu, túi tote vải canvas",
        },
    ],
    default_roles: Styled {
        viral: &["người dẫn"],
        review: &["người review"],
        story: &["nhân vật chính"],
    },
    default_look: "ngoại hình tự nhiên, gần gũi",
    photo_look: "giống hệt ảnh tham chiếu",
    anchors_reviewer: &["cầm sản phẩm ngang ngực khi nói", "nhìn thẳng vào ống kính"],
    anchors_customer: &[
        "trang phục đời thường, giản dị",
        "dáng đứng thoải mái, tự nhiên",
    ],
    anchors_narrator: &["ánh mắt trầm tư, dịu dàng", "cử chỉ nhẹ nhàng"],
    anchors_presenter: &["dáng đứng tự tin", "nụ cười tươi rạng rỡ"],
    anchors_style: Styled {
        viral: &["biểu cảm sôi nổi, tràn năng lượng"],
        review: &["nụ cười thân thiện, giao tiếp bằng mắt với ống kính"],
        story: &["ánh mắt ấm áp, cử động chậm rãi"],
    },
    anchors_generic: &[
        "gương mặt giữ nguyên trong mọi cảnh",
        "kiểu tóc không đổi suốt video",
        "trang phục không đổi suốt video",
        "trang điểm nhẹ, tự nhiên",
        "vóc dáng và màu da giữ nguyên",
    ],
};
